"""Tables for the pure half of the Go builds: go.mod parsing, the wrapper module, the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from guestgate_dev.cluster.gobuild import (
    GoModFacts,
    build_command,
    go_environment,
    parse_go_mod,
    render_tools_go,
    render_wrapper_go_mod,
)
from guestgate_dev.cluster.versions import ETCD, KUBE_APISERVER, KUBERNETES

KUBE_LIKE = """\
// This is a generated file. Do not edit directly.
module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
\tk8s.io/api v0.0.0
\tgithub.com/x/y v1.0.0 // indirect
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go // staging
)
"""

ETCD_LIKE = """\
module go.etcd.io/etcd/server/v3

go 1.24

toolchain go1.24.7

replace (
\tgo.etcd.io/etcd/api/v3 => ../api
\tgo.etcd.io/etcd/pkg/v3 => ../pkg
)

// Bad imports are sometimes causing attempts to pull that code.
replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY

replace go.etcd.io/tests/v3 => ./FORBIDDEN_DEPENDENCY
"""


@pytest.mark.parametrize(
    ("case", "text", "expected"),
    [
        ("kubernetes: staging block replaces, godebug kept",
         KUBE_LIKE, GoModFacts("1.24.0", ("default=go1.24",), ("k8s.io/api", "k8s.io/client-go"))),
        ("etcd: sibling replaces kept, FORBIDDEN_DEPENDENCY guards dropped",
         ETCD_LIKE, GoModFacts("1.24", (), ("go.etcd.io/etcd/api/v3", "go.etcd.io/etcd/pkg/v3"))),
        ("replace to another module version is not a sibling",
         "module m\ngo 1.22\nreplace a.b/c => a.b/c v1.2.3\n", GoModFacts("1.22", (), ())),
        ("versioned left side, single-line replace",
         "module m\ngo 1.22\nreplace a.b/c v1.0.0 => ../c\n", GoModFacts("1.22", (), ("a.b/c",))),
        ("godebug block",
         "module m\ngo 1.23\ngodebug (\n\tx509sha1=1\n\tpanicnil=1\n)\n",
         GoModFacts("1.23", ("x509sha1=1", "panicnil=1"), ())),
        ("no replaces at all (helm)", "module helm.sh/helm/v3\n\ngo 1.24.0\n", GoModFacts("1.24.0", (), ())),
    ],
)
def test_parse_go_mod(case: str, text: str, expected: GoModFacts) -> None:
    assert parse_go_mod(text) == expected, case


def test_parse_go_mod_without_go_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="no `go` line"):
        parse_go_mod("module m\n")


def test_wrapper_pins_every_relative_replace_to_the_sibling_release() -> None:
    text = render_wrapper_go_mod(KUBERNETES, parse_go_mod(KUBE_LIKE))
    assert "require k8s.io/kubernetes v1.34.4" in text
    assert "\tk8s.io/api => k8s.io/api v0.34.4" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.34.4" in text
    assert "godebug default=go1.24" in text
    assert "go 1.24.0" in text
    assert "./staging" not in text


def test_wrapper_for_etcd_uses_the_same_version_for_siblings() -> None:
    text = render_wrapper_go_mod(ETCD, parse_go_mod(ETCD_LIKE))
    assert "\tgo.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v3.6.5" in text
    assert "FORBIDDEN" not in text
    assert "toolchain" not in text  # the machine's Go builds it (GOTOOLCHAIN=local)


def test_wrapper_without_replaces_has_no_replace_block() -> None:
    assert "replace" not in render_wrapper_go_mod(ETCD, GoModFacts("1.24", (), ()))


def test_tools_go_imports_each_package_once_and_is_excluded_from_builds() -> None:
    text = render_tools_go(["b/cmd", "a/cmd", "b/cmd"])
    assert text.startswith("//go:build tools\n")
    assert text.count('_ "b/cmd"') == 1
    assert text.index('"a/cmd"') < text.index('"b/cmd"')


def test_build_command_stamps_the_kubernetes_version() -> None:
    command = build_command(KUBE_APISERVER, Path("/out/kube-apiserver.partial"))
    assert command[:3] == ["go", "build", "-trimpath"]
    ldflags = command[command.index("-ldflags") + 1]
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4" in ldflags
    assert "-X k8s.io/client-go/pkg/version.gitMinor=34" in ldflags
    assert command[-3:] == ["-o", "/out/kube-apiserver.partial", "k8s.io/kubernetes/cmd/kube-apiserver"]


@pytest.mark.parametrize(
    ("case", "base", "toolchain", "goflags"),
    [
        ("toolchain forced local, vcs stamping off", {}, "local", "-buildvcs=false"),
        ("a user's GOFLAGS is kept", {"GOFLAGS": "-mod=mod"}, "local", "-mod=mod"),
        ("a GOTOOLCHAIN=auto never downloads", {"GOTOOLCHAIN": "auto"}, "local", "-buildvcs=false"),
    ],
)
def test_go_environment(case: str, base: dict[str, str], toolchain: str, goflags: str) -> None:
    env = go_environment(base)
    assert (env["GOTOOLCHAIN"], env["GOFLAGS"]) == (toolchain, goflags), case


def test_tidy_stamp_changes_when_a_binary_joins_the_module() -> None:
    from guestgate_dev.cluster.gobuild import tidy_stamp
    from guestgate_dev.cluster.versions import KUBERNETES

    before = tidy_stamp(KUBERNETES, ["k8s.io/kubernetes/cmd/kube-apiserver"])
    after = tidy_stamp(KUBERNETES, ["k8s.io/kubernetes/cmd/kubelet", "k8s.io/kubernetes/cmd/kube-apiserver"])
    assert before != after
    assert after == tidy_stamp(KUBERNETES, ["k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kubelet"])
    assert before.startswith("v1.34.4\n")
