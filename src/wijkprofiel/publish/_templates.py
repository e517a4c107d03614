"""The Jinja2 templates of the publication (package ``templates/``, autoescape on)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2


@cache
def env() -> jinja2.Environment:
    """The Jinja2 environment of the package templates (autoescape on)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("wijkprofiel.publish", "templates"), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)


@cache
def template(name: str) -> jinja2.Template:
    """One template of the package, compiled once."""
    return env().get_template(name)


@cache
def template_text(name: str) -> str:
    """The raw text of a template file (e.g. a script inlined into pages)."""
    return resources.files("wijkprofiel").joinpath(f"publish/templates/{name}").read_text(encoding="utf-8")
