"""Where each object of a desired state was declared: file and field.

`DesiredState` is the composed result of several YAML files; reports that point a
reader at a line to change (lint, spec diff) need the file that declared an object
and its field there, e.g. `desired_state/loads.yaml: loads[2].placeholders`.
`Origins.read(desired)` re-reads the spec's own YAML files (already validated by
`load_spec`) once; lookups afterwards are pure. It reads local files only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

_MAPPINGS = ("targets", "datasets", "tables", "views", "expectations", "transforms")
_LISTS = ("loads", "migrations", "waivers")
_SETTINGS = ("project", "default_location", "ops_dataset", "staging_dir", "placeholder_values", "archive")


@dataclass(frozen=True)
class Origins:
    main: str
    named: dict[tuple[str, str], str] = field(default_factory=dict)  # (section, name) -> file
    indexed: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)  # merged -> (file, local)
    settings: dict[str, str] = field(default_factory=dict)  # top-level key -> last file setting it

    @classmethod
    def read(cls, desired) -> "Origins":
        main = desired.files[0] if desired.files else "spec"
        named: dict[tuple[str, str], str] = {}
        indexed: dict[tuple[str, int], tuple[str, int]] = {}
        settings: dict[str, str] = {}
        counters = {s: 0 for s in _LISTS}
        for rel in desired.files:
            try:
                data = yaml.safe_load((Path(desired.root) / rel).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):  # load_spec read it a moment ago; keep going
                data = {}
            if not isinstance(data, dict):
                continue
            for section in _MAPPINGS:
                for name in data.get(section) or {}:
                    named.setdefault((section, str(name)), rel)
            for section in _LISTS:
                for i, _ in enumerate(data.get(section) or []):
                    indexed[(section, counters[section])] = (rel, i)
                    counters[section] += 1
            for key in _SETTINGS:
                if data.get(key) is not None:
                    settings[key] = rel
        return cls(main, named, indexed, settings)

    def of(self, section: str, name: str, sub: str = "") -> tuple[str, str]:
        """(file, field) of a named object, e.g. ("...yaml", "datasets.market_data.location")."""
        where = f"{section}.{name}" + (f".{sub}" if sub else "")
        return self.named.get((section, name), self.main), where

    def at(self, section: str, index: int, sub: str = "") -> tuple[str, str]:
        """(file, field) of the index-th item of a list section across all files."""
        rel, local = self.indexed.get((section, index), (self.main, index))
        return rel, f"{section}[{local}]" + (f".{sub}" if sub else "")

    def setting(self, key: str, sub: str = "") -> tuple[str, str]:
        return self.settings.get(key, self.main), key + (f".{sub}" if sub else "")
