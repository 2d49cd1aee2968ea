"""One way for every report to become JSON: its fields, with seconds and rates rounded."""

from __future__ import annotations

import dataclasses
from typing import Any


class JsonReport:
    """Mixin for report dataclasses: ``as_json()`` is ``asdict`` with floats rounded for people."""

    def as_json(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self)
        data = dataclasses.asdict(self)
        for name in dir(type(self)):
            if isinstance(getattr(type(self), name), property):
                data[name] = getattr(self, name)
        return {key: round(value, 3) if isinstance(value, float) else value for key, value in data.items()}
