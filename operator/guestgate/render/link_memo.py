"""A cluster's links as last rendered, kept from one render to the next (pure; no I/O).

An edit to one of 10,000 links costs a render of that link, not of all of them: each link's entry
is kept as compact JSON, with the shard it falls in, and each links shard file's text is kept
until an entry in it changes. What changed is found by identity: the operator's cache makes a new
LinkRecord for each watch event, so a link whose record is the one rendered last time is skipped
with a dictionary lookup; only changed links are parsed, checked for slug conflicts (against the
links asking for the same slug), rendered and placed. A render's output is the same as a full
render's (render.config.render_published_config without a memo); tests compare the two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from guestgate.config.schema import (
    LinksFile,
    link_shard,
    link_shard_count,
    link_shard_file,
    links_shard_text,
)
from guestgate.render.link import LinkRecord, render_link_config, render_withdrawn

Kind = Literal["link", "withdrawn"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One link's place in the links files."""

    kind: Kind
    spec: Any  # the LinkRecord's spec it was rendered from: equal spec in the same epoch, same text
    epoch: int  # the memo's public URL and video policy it was rendered with (RenderMemo._epoch)
    shard_id: str  # what picks its shard: the link's id (its key), or a withdrawn link's path
    text: str  # compact JSON
    logo: str | None  # the ConfigMap logo file its page shows


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What every entry depends on beside its own link: a change renders every link again."""

    namespace: str
    cluster: str
    public_url: str
    video_policy: str
    trunk_names: frozenset[str]


class RenderMemo:
    """One cluster's links as last rendered (see the module's docstring)."""

    def __init__(self) -> None:
        self._context: RenderContext | None = None
        self._epoch = 0  # counts changes of the public URL or video policy (every entry shows them)
        self._seen: dict[str, LinkRecord] = {}  # the namespace's links at the last render, by key
        self._own: dict[str, LinkRecord] = {}  # those of the cluster
        self._claims: dict[str, set[str]] = {}  # slug -> keys of the cluster's links asking for it
        self._losers: set[str] = set()  # links that lost their slug to an earlier one
        self._entries: dict[str, Entry] = {}  # links in the files (published or withdrawn), by key
        self._published = 0
        self._logos: Counter[str] = Counter()
        self._size = 0  # characters of every entry, a separator each: what sets the shard count
        self._shards: list[set[str]] = [set()]  # keys of the entries in each shard
        self._texts: list[str | None] = [None]  # each shard's file; None: to be made again
        # The generation of each of the cluster's links, and the keys whose generation changed (or
        # that went) since take_generation_changes() was last called (None: since ever).
        self.generations: dict[str, int] = {}
        self._generation_changes: set[str] | None = None

    def links_file(self, links: Sequence[LinkRecord], context: RenderContext) -> LinksFile:
        """The cluster's links file from every link of the namespace (its own are picked here)."""
        if context != self._context:
            if self._context is None or (context.public_url, context.video_policy) != (
                self._context.public_url, self._context.video_policy
            ):
                self._epoch += 1  # every entry shows these: none rendered before can be reused
            self._context = context
            self._seen = {}  # every link looked at again (entries whose spec is the same are reused)
            changed = self._changes(links)
            changed.update(dict.fromkeys(self._own.keys() - changed.keys()))
        else:
            changed = self._changes(links)
        contested = self._update_own(changed)
        to_place = set(changed) | self._settle_slugs(contested)
        for key in to_place:
            self._place(key, context)
        if link_shard_count(self._size) != len(self._shards):
            self._relayout()
        files = {}
        for index, keys in enumerate(self._shards):
            text = self._texts[index]
            if text is None:
                text = self._texts[index] = self._shard_text(keys)
            files[link_shard_file(index)] = text
        logos = sorted(logo for logo, count in self._logos.items() if count > 0)
        return LinksFile.rendered(self._published, logos, files)

    def take_generation_changes(self) -> set[str] | None:
        """Keys whose generation changed (or that went) since the last call; None the first
        time (a new memo knows nothing of what was published before it: compare every link)."""
        changes, self._generation_changes = self._generation_changes, set()
        return changes

    def _changes(self, links: Sequence[LinkRecord]) -> dict[str, LinkRecord | None]:
        """The links whose record is not the one seen last time (None: gone), and remember these."""
        seen = self._seen
        changed: dict[str, LinkRecord | None] = {}
        added = 0
        for record in links:
            if seen.get(record.key) is not record:
                added += record.key not in seen
                changed[record.key] = record
        if len(seen) + added != len(links):  # some went (keys are unique)
            changed.update(dict.fromkeys(seen.keys() - {record.key for record in links}))
        for key, now in changed.items():
            if now is None:
                del seen[key]
            else:
                seen[key] = now
        return changed

    def _update_own(self, changed: Mapping[str, LinkRecord | None]) -> set[str]:
        """Bring the cluster's links, their claims and generations up to date; the slugs touched."""
        assert self._context is not None
        namespace, cluster = self._context.namespace, self._context.cluster
        contested: set[str] = set()
        for key, record in changed.items():
            before = self._own.pop(key, None)
            if before is not None and before.slug:
                self._claims[before.slug].discard(key)
                contested.add(before.slug)
            if record is not None and record.cluster_ref == cluster and record.namespace == namespace:
                self._own[key] = record
                if record.slug:
                    self._claims.setdefault(record.slug, set()).add(key)
                    contested.add(record.slug)
                if self.generations.get(key) != record.generation:
                    self.generations[key] = record.generation
                    self._generation_changed(key)
            elif key in self.generations:
                del self.generations[key]
                self._generation_changed(key)
        return contested

    def _generation_changed(self, key: str) -> None:
        if self._generation_changes is not None:
            self._generation_changes.add(key)

    def _settle_slugs(self, slugs: Iterable[str]) -> set[str]:
        """Who holds each slug touched (the earliest claim: creation time, then key); the links
        whose standing changed."""
        moved: set[str] = set()
        for slug in slugs:
            holders = self._claims.get(slug, set())
            if not holders:
                self._claims.pop(slug, None)
                continue
            winner = min(holders, key=lambda key: (self._own[key].created, key))
            for key in holders:
                lost = key != winner
                if lost and key not in self._losers:
                    self._losers.add(key)
                    moved.add(key)
                elif not lost and key in self._losers:
                    self._losers.discard(key)
                    moved.add(key)
        # Links no longer the cluster's (or gone) lose no slug here any more.
        gone = {key for key in self._losers if key not in self._own}
        self._losers -= gone
        return moved | gone

    def _place(self, key: str, context: RenderContext) -> None:
        """Put the link where it belongs now: published, withdrawn, or out of the files."""
        record = self._own.get(key)
        kind: Kind | None = None
        if record is not None and key not in self._losers:
            if not record.enabled:
                kind = "withdrawn"
            elif record.trunk_ref in context.trunk_names:
                kind = "link"
        current = self._entries.get(key)
        entry = None if record is None or kind is None else self._entry(kind, record, context, current)
        if entry is current:
            return
        if current is not None:
            self._remove(key, current)
        if entry is not None:
            self._add(key, entry)

    def _entry(self, kind: Kind, record: LinkRecord, context: RenderContext, current: Entry | None) -> Entry:
        if current is not None and (current.kind, current.epoch) == (kind, self._epoch) and current.spec == record.spec:
            return current
        if kind == "link":
            rendered = render_link_config(record.model(), context.public_url, context.video_policy)
            logo = rendered.branding.logo_file if rendered.branding else None
            # The id is the record's key (one string for both).
            return Entry(kind, record.spec, self._epoch, record.key, LinksFile.compact(rendered), logo)
        gone = render_withdrawn(record.model())
        return Entry(kind, record.spec, self._epoch, gone.path, LinksFile.compact(gone), None)

    def _add(self, key: str, entry: Entry) -> None:
        self._entries[key] = entry
        self._size += len(entry.text) + 1
        if entry.kind == "link":
            self._published += 1
            if entry.logo:
                self._logos[entry.logo] += 1
        index = link_shard(entry.shard_id, len(self._shards))
        self._shards[index].add(key)
        self._texts[index] = None

    def _remove(self, key: str, entry: Entry) -> None:
        del self._entries[key]
        self._size -= len(entry.text) + 1
        if entry.kind == "link":
            self._published -= 1
            if entry.logo:
                self._logos[entry.logo] -= 1
        index = link_shard(entry.shard_id, len(self._shards))
        self._shards[index].discard(key)
        self._texts[index] = None

    def _relayout(self) -> None:
        """The links outgrew their shards (or shrank): every entry to its shard of the new count."""
        count = link_shard_count(self._size)
        self._shards = [set() for _ in range(count)]
        self._texts = [None] * count
        for key, entry in self._entries.items():
            self._shards[link_shard(entry.shard_id, count)].add(key)

    def _shard_text(self, keys: set[str]) -> str:
        """A shard's file: its links, then its withdrawn links, each by key (the full render's order)."""
        entries = [self._entries[key] for key in sorted(keys)]
        return links_shard_text(
            (entry.text for entry in entries if entry.kind == "link"),
            (entry.text for entry in entries if entry.kind == "withdrawn"),
        )
