"""The published PDU vectors (data/pdu_vectors.json) the codec tests check against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parent / "data" / "pdu_vectors.json").read_text(encoding="utf-8")
)
