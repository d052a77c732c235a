// GuestGate link page, the media of a call relayed by the pod's rtpengine: the answer arrives
// over the event socket (once the far end's SDP is known), the page plays its own ringback while
// the server says so, and keypad digits go out as RFC 4733 events when the trunk wants them.
// call.js owns the call; this module only handles media. No framework, no third-party code.
"use strict";
window.GGMedia = (() => {
  // 440 + 480 Hz, 2 s on, 4 s off: the ringback the visitor knows (signal/ringback.py's tone).
  function ringback(ctx, outputs) {
    let gain = null, oscillators = [], timer = null;
    function start() {
      if (gain) return;
      gain = ctx.createGain();
      gain.gain.value = 0;
      oscillators = [440, 480].map((hz) => {
        const o = ctx.createOscillator();
        o.frequency.value = hz;
        o.connect(gain);
        o.start();
        return o;
      });
      outputs().forEach((node) => gain.connect(node));
      const cadence = () => {
        const now = ctx.currentTime;
        gain.gain.setValueAtTime(0.15, now);
        gain.gain.setValueAtTime(0, now + 2);
      };
      cadence();
      timer = setInterval(cadence, 6000);
    }
    function stop() {
      if (!gain) return;
      clearInterval(timer);
      oscillators.forEach((o) => o.stop());
      gain.disconnect();
      gain = null;
      oscillators = [];
    }
    return { start, stop, get on() { return gain !== null; } };
  }

  // One controller per page. options: context() (the AudioContext), heard() (the node the page
  // measures what the visitor hears with), peer() (the RTCPeerConnection), settings (gg-settings).
  function create(options) {
    const media = options.settings.media || {};
    const policy = media.video || "inactive";  // sendrecv, recvonly, inactive
    const $ = (id) => document.getElementById(id);
    const view = { box: $("video"), remote: $("remote-video"), self: $("self-view"), camera: $("camera") };
    let tone = null, answered = false, camera = null;
    if (view.camera) {
      view.camera.addEventListener("click", () => {
        if (!camera) return;
        camera.enabled = !camera.enabled;
        view.camera.setAttribute("aria-pressed", String(camera.enabled));
      });
    }
    const ring = () => {
      tone = tone || ringback(options.context(), () => [options.context().destination, options.heard()]);
      return tone;
    };
    return {
      // An event from the server; true when it was a media event (handled here).
      onEvent(event) {
        if (event.type === "answer") {
          const pc = options.peer();
          if (pc && !answered) {
            answered = true;
            pc.setRemoteDescription({ type: "answer", sdp: event.sdp }).catch((e) => options.failed(e));
          }
          return true;
        }
        if (event.type === "ringback") {
          if (event.on) ring().start(); else if (tone) tone.stop();
          return true;
        }
        if (event.type === "state" && (event.state === "connected" || event.state === "ended") && tone) tone.stop();
        return false;
      },
      reset() {
        answered = false;
        if (tone) tone.stop();
        camera = null;
        if (view.box) view.box.hidden = true;
        if (view.camera) view.camera.hidden = true;
        if (view.remote) view.remote.srcObject = null;
        if (view.self) view.self.srcObject = null;
      },
      videoPolicy: policy,
      // Whether to ask for the camera as well as the microphone.
      get wantsCamera() { return policy === "sendrecv"; },
      // After the microphone (and camera) tracks are added: a receive-only video for recvonly;
      // the self view and the camera toggle for sendrecv.
      addVideo(pc, stream) {
        if (policy === "inactive") return;
        if (view.box) view.box.hidden = false;
        const track = stream.getVideoTracks()[0];
        if (policy === "recvonly" || !track) {
          pc.addTransceiver("video", { direction: "recvonly" });
          return;
        }
        camera = track;
        pc.addTrack(track, stream);
        if (view.self) view.self.srcObject = new MediaStream([track]);
        if (view.camera) { view.camera.hidden = false; view.camera.setAttribute("aria-pressed", "true"); }
      },
      // A remote track: video goes to the video element (true), audio is the page's (false).
      onTrack(event) {
        if (event.track.kind !== "video") return false;
        if (view.remote) view.remote.srcObject = new MediaStream([event.track]);
        if (view.box) view.box.hidden = false;
        return true;
      },
      get ringing() { return Boolean(tone && tone.on); },
      // A keypad digit: RFC 4733 events in the media when the trunk wants them (true), else the
      // server sends it (SIP INFO).
      dtmf(digit) {
        if (media.dtmf !== "rfc4733") return false;
        const pc = options.peer();
        const sender = pc && pc.getSenders().find((s) => s.track && s.track.kind === "audio");
        if (!sender || !sender.dtmf || !sender.dtmf.canInsertDTMF) return false;
        sender.dtmf.insertDTMF(digit, 100, 70);
        return true;
      },
    };
  }
  return { create };
})();
