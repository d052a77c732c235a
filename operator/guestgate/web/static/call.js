// GuestGate link page: one call from this browser to the link's destination.
// The server decides what is dialled and whether a call may start; this script only asks.
"use strict";
(() => {
  const settings = JSON.parse(document.getElementById("gg-settings").textContent);
  const $ = (id) => document.getElementById(id);
  const ui = {
    stateText: $("state-text"), timer: $("timer"), reason: $("reason"), detail: $("detail"),
    call: $("call"), hangup: $("hangup"), mute: $("mute"), keypad: $("keypad"),
    mic: $("mic"), level: $("level"), remote: $("remote"),
  };
  const t = window.ggText || ((key) => key);
  // What the tests (and a curious engineer in the console) can read; widget.js and autocall.js
  // hook in through gg.listeners (called on every state change) and gg.call/hangup/dtmf.
  const gg = (window.gg = { state: "idle", events: [], micLevel: 0, listeners: [] });
  let pc = null, ws = null, local = null, audioCtx = null, remoteAnalyser = null, timerId = null;
  // Once the answer is in, media flows within seconds; a browser that found no way to the media
  // server (a firewall, no TURN) may never call the connection failed: it gets this long.
  const MEDIA_SECONDS = 20;
  let mediaWatch = null;
  let hangupWanted = false;  // Hang up pressed before the event socket was open: send it on open

  function setState(state, text, reason, detail) {
    gg.state = state;
    document.body.dataset.state = state;
    ui.stateText.textContent = text || settings.stateText[state] || state;
    ui.reason.textContent = reason || "";
    ui.detail.textContent = detail || "";
    const inCall = state === "connecting" || state === "ringing" || state === "connected";
    ui.call.disabled = inCall;
    ui.call.textContent = t(state === "ended" ? "button.call-again" : "button.call");
    ui.hangup.disabled = !inCall;
    ui.mute.disabled = !inCall;
    ui.keypad.disabled = state !== "connected";
    clearInterval(timerId);
    ui.timer.textContent = "";
    if (state === "connected") {
      const start = Date.now();
      const tick = () => {
        const s = Math.floor((Date.now() - start) / 1000);
        ui.timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
      };
      tick();
      timerId = setInterval(tick, 1000);
    }
    gg.listeners.forEach((listener) => listener(state, { text: ui.stateText.textContent, reason, detail }));
  }

  async function listMicrophones() {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      const chosen = ui.mic.value;
      ui.mic.replaceChildren(new Option(t("mic.default"), ""));
      devices.filter((d) => d.kind === "audioinput" && d.deviceId && d.deviceId !== "default")
        .forEach((d, i) => ui.mic.add(new Option(d.label || t("mic.numbered", { n: i + 1 }), d.deviceId)));
      ui.mic.value = chosen;
    } catch (e) { /* no device list: the default microphone still works */ }
  }

  // What the visitor hears, for the level tests and gg.remoteToneDb: the far end, local ringback.
  function heardNode() {
    if (!remoteAnalyser) {
      remoteAnalyser = audioCtx.createAnalyser();
      remoteAnalyser.fftSize = 4096;
    }
    return remoteAnalyser;
  }
  const media = window.GGMedia.create({
    context: () => audioCtx, heard: heardNode, peer: () => pc, settings,
    failed: (e) => { ui.detail.textContent = String(e && e.message || e); send({ type: "hangup" }); },
  });

  function analyser(stream, size) {
    const node = audioCtx.createAnalyser();
    node.fftSize = size;
    audioCtx.createMediaStreamSource(stream).connect(node);
    return node;
  }

  let meterRun = 0;
  function meter(node) {
    const run = ++meterRun;  // a new microphone's meter replaces the old loop
    const data = new Float32Array(node.fftSize);
    const draw = () => {
      if (run !== meterRun) return;
      if (!local) { ui.level.value = 0; return; }
      node.getFloatTimeDomainData(data);
      let sum = 0;
      for (const v of data) sum += v * v;
      gg.micLevel = Math.sqrt(sum / data.length);
      ui.level.value = Math.min(1, gg.micLevel * 4);
      requestAnimationFrame(draw);
    };
    draw();
  }

  // Power of one frequency in what we hear, against the average of the spectrum (dB above it).
  gg.remoteToneDb = (freq) => {
    if (!remoteAnalyser) return -Infinity;
    const bins = new Float32Array(remoteAnalyser.frequencyBinCount);
    remoteAnalyser.getFloatFrequencyData(bins);
    const at = Math.round(freq / (audioCtx.sampleRate / remoteAnalyser.fftSize));
    const peak = Math.max(bins[at - 1], bins[at], bins[at + 1]);
    const finite = Array.from(bins).filter(Number.isFinite);
    const mean = finite.reduce((a, b) => a + b, 0) / Math.max(1, finite.length);
    return peak - mean;
  };

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function mediaUnreachable() {
    setState("ended", t("state.ended"), t("error.media-unreachable"));
    send({ type: "hangup" });
    cleanup();
  }

  function cleanup() {
    if (mediaWatch) { clearTimeout(mediaWatch); mediaWatch = null; }
    if (pc) { pc.close(); pc = null; }
    media.reset();
    if (local) { local.getTracks().forEach((t) => t.stop()); local = null; }
    ui.mute.setAttribute("aria-pressed", "false");
    ui.mute.textContent = t("button.mute");
  }

  function onEvent(event) {
    gg.events.push(event);
    if (media.onEvent(event) || event.type !== "state") return;
    if (gg.state === "ended" && event.state === "ended") return;  // the page said why already (media unreachable)
    const reason = event.message ? t(event.message) : event.reasonText;
    gg.endReason = event.reason;  // the reason's key (hangup, busy, ...): widget.js tells the host page
    setState(event.state, settings.stateText[event.state], reason, event.detail);
    if (event.state === "ended") cleanup();
  }

  async function iceGathered(peer, ms) {
    if (peer.iceGatheringState === "complete") return;
    await new Promise((resolve) => {
      const done = () => { if (peer.iceGatheringState === "complete") resolve(); };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, ms);  // a STUN server that never answers must not block the call
    });
  }

  async function call() {
    setState("connecting");
    gg.events = [];
    gg.mediaReached = false;
    gg.error = gg.endReason = null;
    hangupWanted = false;
    media.reset();
    try {
      audioCtx = audioCtx || new AudioContext();
      await audioCtx.resume();
      const audio = ui.mic.value ? { deviceId: { exact: ui.mic.value } } : true;
      local = await navigator.mediaDevices.getUserMedia({ audio, video: media.wantsCamera })
        .catch((e) => {  // no camera (or not allowed): the call goes on with audio alone
          if (!media.wantsCamera) throw e;
          return navigator.mediaDevices.getUserMedia({ audio, video: false });
        });
      listMicrophones();  // labels are only visible once the visitor allowed the microphone
      meter(analyser(local, 2048));
      pc = new RTCPeerConnection({ iceServers: settings.iceServers, iceTransportPolicy: settings.iceTransportPolicy || "all" });
      local.getAudioTracks().forEach((t) => pc.addTrack(t, local));
      media.addVideo(pc, local);
      pc.ontrack = (e) => {
        if (media.onTrack(e)) return;
        const stream = e.streams[0] || new MediaStream([e.track]);
        ui.remote.srcObject = stream;  // Chrome feeds WebAudio from a remote stream only once it plays
        audioCtx.createMediaStreamSource(stream).connect(heardNode());
      };
      pc.onsignalingstatechange = () => {
        if (pc && pc.signalingState === "stable" && !mediaWatch) {
          mediaWatch = setTimeout(() => {
            if (pc && !gg.mediaReached && gg.state !== "ended") mediaUnreachable();
          }, MEDIA_SECONDS * 1000);
        }
      };
      pc.onconnectionstatechange = () => {
        if (pc && pc.connectionState === "connected") gg.mediaReached = true;
        if (pc && pc.connectionState === "failed" && gg.state !== "ended") {
          if (!gg.mediaReached) { mediaUnreachable(); return; }  // never connected: no way to the media server
          setState("ended", t("state.ended"), t("error.connection-lost"));
          send({ type: "hangup" });
          cleanup();
        }
      };
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc, 3000);
      const reply = await fetch("/_gg/calls", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ path: settings.path, token: settings.token, sdp: pc.localDescription.sdp }),
      });
      const body = await reply.json().catch(() => ({}));
      if (!reply.ok) {
        const wait = reply.headers.get("Retry-After");
        gg.error = body.error || `http-${reply.status}`;
        const known = [`error.${body.error}`, `refused.${body.error}.title`].find((k) => t(k) !== k);
        setState("ended", t("state.not-started"), known ? t(known) : t("error.not-started"),
          wait ? t("error.retry-after", { seconds: wait }) : `HTTP ${reply.status}`);
        cleanup();
        return;
      }
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      ws = new WebSocket(`${scheme}//${location.host}/_gg/calls/${body.id}/events`);
      ws.onmessage = (m) => onEvent(JSON.parse(m.data));
      ws.onopen = () => { if (hangupWanted) send({ type: "hangup" }); };
      ws.onclose = () => {
        if (gg.state !== "ended" && gg.state !== "idle") {
          setState("ended", t("state.ended"), t("error.service-lost"));
          cleanup();
        }
      };
      // The answer comes later, from the pod's rtpengine, as an "answer" event (media.js).
    } catch (e) {
      const denied = e && e.name === "NotAllowedError";
      gg.error = denied ? "microphone-denied" : "not-started";
      setState("ended", t("state.not-started"), t(denied ? "error.microphone-denied" : "error.not-started"),
        String(e && e.message || e));
      cleanup();
    }
  }

  // A new microphone chosen during a call replaces the track in place: no renegotiation.
  ui.mic.addEventListener("change", async () => {
    if (!local || !pc) return;
    try {
      const audio = ui.mic.value ? { deviceId: { exact: ui.mic.value } } : true;
      const next = await navigator.mediaDevices.getUserMedia({ audio, video: false });
      const track = next.getAudioTracks()[0];
      track.enabled = ui.mute.getAttribute("aria-pressed") !== "true";
      const sender = pc.getSenders().find((s) => s.track && s.track.kind === "audio");
      if (sender) await sender.replaceTrack(track);
      local.getAudioTracks().forEach((t) => t.stop());
      local.getVideoTracks().forEach((t) => next.addTrack(t));  // the camera stays as it is
      local = next;
      meter(analyser(local, 2048));
    } catch (e) {
      ui.detail.textContent = t("mic.switch-failed");
    }
  });
  function hangup() {
    hangupWanted = true;
    send({ type: "hangup" });
    ui.hangup.disabled = true;
  }
  gg.call = () => { if (!ui.call.disabled) call(); };
  gg.hangup = () => { if (!ui.hangup.disabled) hangup(); };
  function dtmf(digit) {
    if (gg.state !== "connected") return;
    media.dtmf(digit);  // RFC 4733 in the media when the trunk wants it
    send({ type: "dtmf", digits: digit });  // the server sends SIP INFO when the trunk wants that
  }
  gg.dtmf = dtmf;
  ui.call.addEventListener("click", call);
  ui.hangup.addEventListener("click", hangup);
  ui.mute.addEventListener("click", () => {
    if (!local) return;
    const muted = ui.mute.getAttribute("aria-pressed") !== "true";
    local.getAudioTracks().forEach((t) => { t.enabled = !muted; });
    ui.mute.setAttribute("aria-pressed", String(muted));
    ui.mute.textContent = t(muted ? "button.unmute" : "button.mute");
  });
  ui.keypad.addEventListener("click", (e) => {
    const digit = e.target.closest("button[data-digit]");
    if (digit) dtmf(digit.dataset.digit);
  });
  window.addEventListener("pagehide", () => send({ type: "hangup" }));
  if (navigator.mediaDevices) {
    listMicrophones();
    navigator.mediaDevices.addEventListener("devicechange", listMicrophones);
  } else {
    gg.error = "insecure";
    setState("ended", t("error.insecure.title"), t("error.insecure.text"));
    ui.call.disabled = true;
  }
})();
