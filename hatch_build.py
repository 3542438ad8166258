"""Wheel build hook: ship the model specs (``models/*.toml``) as ``grassroots/_models``.

A hook, because ``force-include`` of the whole folder would also ship ``models/fitted/``, the
local fit bundles, and exclusions do not apply to forced paths.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ModelSpecsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        for spec in sorted(Path(self.root, "models").glob("*.toml")):
            build_data["force_include"][str(spec)] = f"grassroots/_models/{spec.name}"
