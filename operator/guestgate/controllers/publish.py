"""What each cluster's pods should serve and what they do serve (in memory; the pusher fills it).

Each configuration the cluster reconcile renders gets a serial (1, 2, ...); each link remembers
the serial of the first configuration that carried its current generation. A pod serving a
configuration of serial s serves every link whose serial is <= s, so "every ready pod serves this
link's generation" is one comparison per pod, without a history of every link in every digest.
Serials restart with the operator: the first configuration it renders carries every link.

Pure except for the clock passed in; the pusher (controllers.pusher) does the talking to pods.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from guestgate.config.schema import files_digest

DIGEST_MEMORY = 256  # digest -> serial entries kept per cluster (older digests count as serial 0)
# Configurations kept whole per cluster (their files share the text of unchanged files): a pod
# serving one of them is sent only the files that changed since (controllers.pusher).
FILES_MEMORY = 3


@dataclass(frozen=True)
class Serving:
    """How many ready pods serve a link's current generation, of how many ready pods."""

    ready: int
    serving: int

    @property
    def complete(self) -> bool:
        return self.serving >= self.ready


@dataclass
class Publication:
    """One cluster's rendered configuration and the state of its pods."""

    files: dict[str, str] = field(default_factory=dict)
    digest: str = ""
    serial: int = 0
    serials: dict[str, int] = field(default_factory=dict)  # digest -> serial
    links: dict[str, tuple[int, int]] = field(default_factory=dict)  # link key -> (generation, serial)
    pods: dict[str, str] = field(default_factory=dict)  # ready pod -> digest it serves
    waiting: dict[str, float] = field(default_factory=dict)  # link key -> since when its status waits
    history: dict[str, dict[str, str]] = field(default_factory=dict)  # digest -> files, the latest few

    def changes_since(self, digest: str) -> tuple[dict[str, str], list[str]] | None:
        """The files that differ from those of configuration `digest` and the files it had that
        are gone; None when that configuration is not remembered."""
        before = self.history.get(digest)
        if before is None:
            return None
        changed = {name: text for name, text in self.files.items() if before.get(name) is not text
                   and before.get(name) != text}
        return changed, sorted(set(before) - set(self.files))

    def pods_serving_current(self) -> int:
        return sum(1 for digest in self.pods.values() if digest == self.digest)

    def served_serial(self) -> int:
        """The serial every ready pod serves at least (0 when a pod serves something unknown)."""
        return served_serial(self.pods, self.serials)

    def serving(self, link_key: str, generation: int) -> Serving:
        entry = self.links.get(link_key)
        if entry is None or entry[0] != generation:
            return Serving(len(self.pods), 0)  # this generation is not rendered yet
        return Serving(len(self.pods), pods_serving(self.pods, self.serials, entry[1]))


def _same_texts(files: Mapping[str, str], before: Mapping[str, str]) -> bool:
    """The same files as last time: then the digest of 3 MB need not be computed again (a render
    that changed nothing reuses each shard's text, so most comparisons are of a string with
    itself, and a changed one differs early)."""
    return bool(before) and len(files) == len(before) and all(before.get(name) == text for name, text in files.items())


def served_serial(pods: Mapping[str, str], serials: Mapping[str, int]) -> int:
    return min((serials.get(digest, 0) for digest in pods.values()), default=0)


def pods_serving(pods: Mapping[str, str], serials: Mapping[str, int], serial: int) -> int:
    return sum(1 for digest in pods.values() if serials.get(digest, 0) >= serial)


class Publications:
    """Every cluster's Publication, by cluster key."""

    def __init__(self) -> None:
        self._by_cluster: dict[str, Publication] = {}

    def get(self, cluster_key: str) -> Publication | None:
        return self._by_cluster.get(cluster_key)

    def clusters(self) -> list[str]:
        """The clusters with a rendered configuration."""
        return sorted(key for key, publication in self._by_cluster.items() if publication.digest)

    def forget(self, cluster_key: str) -> None:
        self._by_cluster.pop(cluster_key, None)

    def publish(
        self,
        cluster_key: str,
        files: Mapping[str, str],
        generations: Mapping[str, int],
        changed: Collection[str] | None = None,
    ) -> bool:
        """Record the configuration just rendered for the cluster and the generation of each of
        its links; True when the pods have something new to learn (a new digest). `changed`: the
        links whose generation changed (or that went) since the last publish, when the caller
        knows (an edit to one of 10,000 links looks at one); None: every link is compared."""
        publication = self._by_cluster.get(cluster_key)
        if publication is None or not publication.digest:  # nothing recorded yet: every link
            publication = self._by_cluster.setdefault(cluster_key, Publication())
            changed = None
        digest = publication.digest if _same_texts(files, publication.files) else files_digest(files)
        new = digest != publication.digest
        if new:
            publication.serial += 1
            publication.digest = digest
            publication.files = dict(files)
            publication.serials[digest] = publication.serial
            while len(publication.serials) > DIGEST_MEMORY:
                del publication.serials[next(iter(publication.serials))]
            publication.history[digest] = publication.files
            while len(publication.history) > FILES_MEMORY:
                del publication.history[next(iter(publication.history))]
        for link_key in generations if changed is None else changed:
            generation = generations.get(link_key)
            known = publication.links.get(link_key)
            if generation is None:
                if known is not None:
                    del publication.links[link_key]
                    publication.waiting.pop(link_key, None)
            elif known is None or known[0] != generation:
                publication.links[link_key] = (generation, publication.serial)
        if changed is None:
            for gone in publication.links.keys() - generations.keys():
                del publication.links[gone]
                publication.waiting.pop(gone, None)
        return new

    def serving(self, cluster_key: str, link_key: str, generation: int) -> Serving | None:
        """None while nothing is known about the cluster's pods (no configuration rendered yet)."""
        publication = self._by_cluster.get(cluster_key)
        if publication is None or not publication.digest:
            return None
        return publication.serving(link_key, generation)

    def wait(self, cluster_key: str, link_key: str, now: float) -> float:
        """The link's status waits for its pods; returns since when it waits."""
        publication = self._by_cluster.setdefault(cluster_key, Publication())
        return publication.waiting.setdefault(link_key, now)

    def served(self, cluster_key: str, link_key: str) -> None:
        publication = self._by_cluster.get(cluster_key)
        if publication is not None:
            publication.waiting.pop(link_key, None)

    def due_links(self, cluster_key: str) -> list[str]:
        """Waiting links whose generation every ready pod serves now (their status can be written)."""
        publication = self._by_cluster.get(cluster_key)
        if publication is None or not publication.digest:
            return []
        out = []
        for link_key in list(publication.waiting):
            entry = publication.links.get(link_key)
            if entry is not None and publication.serving(link_key, entry[0]).complete:
                out.append(link_key)
        return out
