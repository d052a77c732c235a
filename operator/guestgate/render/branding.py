"""Branding of a GuestCluster or GuestLink -> what the pods read (pure)."""

from __future__ import annotations

from guestgate.api.branding import Branding, LogoConfigMap
from guestgate.config.schema import BrandingConfig

BRAND_DIR = "brand"  # under the config dir: brand/<configmap>/<key>


def logo_path(ref: LogoConfigMap) -> str:
    """Where a ConfigMap logo lands in the pods' config dir (a projected item)."""
    return f"{BRAND_DIR}/{ref.name}/{ref.key}"


def render_branding(branding: Branding | None) -> BrandingConfig | None:
    if branding is None:
        return None
    logo = branding.logo
    colors = branding.colors
    rendered = BrandingConfig(
        title=branding.title,
        logo_url=logo.url if logo else None,
        logo_file=logo_path(logo.config_map) if logo and logo.config_map else None,
        logo_alt=logo.alt if logo else None,
        accent=colors.accent.lower() if colors and colors.accent else None,
        background=colors.background.lower() if colors and colors.background else None,
        text=branding.text,
    )
    return rendered if rendered.model_dump(exclude_none=True) else None


def logo_sources(logo_files: tuple[str, ...]) -> list[dict[str, object]]:
    """Projected-volume sources putting each ConfigMap logo into the config dir. Optional: a
    missing ConfigMap or key leaves the page without its logo rather than the pod without a start."""
    sources: list[dict[str, object]] = []
    for path in logo_files:
        _, name, key = path.split("/", 2)
        sources.append({"configMap": {"name": name, "optional": True, "items": [{"key": key, "path": path}]}})
    return sources
