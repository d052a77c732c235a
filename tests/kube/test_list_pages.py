"""A list read a page at a time (the operator's first list of 10,000 GuestLinks never decoded at
once) gives every object once, as the whole list does."""

from __future__ import annotations

import uuid

import pytest

from guestgate.kube.client import Kube
from guestgate_dev.cluster import DevCluster


@pytest.mark.cluster
def test_pages_give_every_object_once(dev_cluster: DevCluster) -> None:
    namespace = f"pages-{uuid.uuid4().hex[:8]}"
    dev_cluster.kubectl("create", "namespace", namespace)
    try:
        kube = Kube.from_environment("pages-test", str(dev_cluster.kubeconfig))
        names = [f"cm-{i}" for i in range(5)]
        for name in names:
            kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                        "data": {"n": name}})
        pages: list[list[str]] = []
        token = ""
        while True:
            page, token = kube.list_page("ConfigMap", namespace, None, 2, token)
            pages.append([item["metadata"]["name"] for item in page if item["metadata"]["name"] in names])
            assert all(item["kind"] == "ConfigMap" and item["apiVersion"] == "v1" for item in page)
            if not token:
                break
        assert len(pages) >= 3  # 5 ConfigMaps (and kube-root-ca.crt) 2 to a page
        assert sorted(name for page in pages for name in page) == names
        whole, last = kube.list_page("ConfigMap", namespace)
        assert last == "" and sorted(i["metadata"]["name"] for i in whole if i["metadata"]["name"] in names) == names
    finally:
        dev_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
