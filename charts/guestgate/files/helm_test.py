"""`helm test`: the operator answers its health check, and the page of each Active GuestLink (up to
three) answers through its GuestCluster's Service. Runs in the operator image, as the operator's
ServiceAccount (which may read GuestLinks and GuestClusters). Exit 0 when all is well, 1 otherwise."""

import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

from kubernetes import client, config

GROUP, VERSION = "guestgate.io", "v1alpha1"
MAX_LINKS = 3


def fetch(url: str) -> tuple[int, str]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pods' own certificate names the public host, not the Service
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError as error:
        return 0, str(error)


def service_host(core: client.CoreV1Api, namespace: str, name: str) -> str:
    """The Service's ClusterIP read from the API (a cluster without DNS works too), else its DNS name."""
    try:
        ip = core.read_namespaced_service(name, namespace).spec.cluster_ip
    except client.ApiException:
        ip = None
    return ip if ip and ip != "None" else f"{name}.{namespace}.svc"


def page_url(core: client.CoreV1Api, link: dict, cluster: dict) -> str:
    """The link's page through its cluster's Service (<cluster>-signal, web port) inside the cluster."""
    spec = cluster.get("spec", {})
    web = spec.get("web", {})
    scheme = "https" if web.get("tlsSecretName") else "http"
    path = urllib.parse.urlparse(link["status"]["url"]).path
    ns, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
    return f"{scheme}://{service_host(core, ns, name + '-signal')}:{web.get('port', 8080)}{path}"


def main() -> int:
    failures = 0
    config.load_incluster_config()
    core = client.CoreV1Api()
    api = client.CustomObjectsApi()
    release_ns, service = os.environ["GUESTGATE_RELEASE_NAMESPACE"], os.environ["GUESTGATE_OPERATOR_SERVICE"]
    health = f"http://{service_host(core, release_ns, service)}:{os.environ['GUESTGATE_HEALTH_PORT']}/healthz"
    status, body = fetch(health)
    print(f"operator {release_ns}/{service} {health}: {status} {body[:200]}")
    failures += status != 200
    namespaces = [n for n in os.environ.get("GUESTGATE_NAMESPACES", "").split(",") if n]
    links: list = []
    if namespaces:
        for ns in namespaces:
            links += api.list_namespaced_custom_object(GROUP, VERSION, ns, "guestlinks")["items"]
    else:
        links = api.list_cluster_custom_object(GROUP, VERSION, "guestlinks")["items"]
    active = [link for link in links if (link.get("status") or {}).get("phase") == "Active"][:MAX_LINKS]
    if not active:
        print("no Active GuestLink yet: only the operator was checked")
    for link in active:
        ns = link["metadata"]["namespace"]
        cluster = api.get_namespaced_custom_object(GROUP, VERSION, ns, "guestclusters", link["spec"]["clusterRef"])
        url = page_url(core, link, cluster)
        status, body = fetch(url)
        ok = status == 200 and 'id="call"' in body
        print(f"link {ns}/{link['metadata']['name']} {url}: {status}{'' if ok else ' FAILED'}")
        failures += not ok
    print(json.dumps({"failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
