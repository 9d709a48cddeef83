"""Every label and reason the workbench shows exists in Chinese and English."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import yaml

from api.web import STATIC_DIR
from detectors.watchlist import WatchlistKind
from tianwang.scoring.config import DEFAULT_CONFIG_PATH
from tianwang.scoring.pipeline import GRAPH_UNAVAILABLE

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


def reason_codes() -> set[str]:
    """The codes a built-in detector or the shipped configuration can give."""
    codes: set[str] = set()
    for path in (ROOT / "detectors").rglob("*.py"):
        if path.name == "base.py":  # its docstring's example detector says "ALWAYS"
            continue
        codes |= set(re.findall(r'(?:Finding|Reason)\(\s*"([A-Z][A-Z0-9_]+)"', path.read_text(encoding="utf-8")))

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("id"), str) and node["id"].isupper():
                codes.add(node["id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")))
    codes |= {f"WATCHLIST_{kind.upper()}" for kind in typing.get_args(WatchlistKind)}
    codes.add(GRAPH_UNAVAILABLE)  # the pipeline's own, when the graph store is down
    return codes


def test_every_reason_code_has_a_chinese_and_an_english_title() -> None:
    catalogue = json.loads((STATIC_DIR / "i18n" / "reasons.json").read_text(encoding="utf-8"))
    codes = reason_codes()
    assert len(codes) > 60  # the scan found the detectors' codes
    missing = sorted(codes - set(catalogue))
    assert missing == [], f"add these reason codes to api/web/static/i18n/reasons.json: {missing}"
    for code, titles in catalogue.items():
        if code.startswith("_"):
            continue
        assert titles["en"].strip() and not CJK.search(titles["en"]), code
        assert CJK.search(titles["zh"]), code


def test_the_pages_labels_exist_in_both_languages() -> None:
    source = (STATIC_DIR / "i18n.js").read_text(encoding="utf-8")
    pairs = re.findall(r'^  (\w+): \["([^"]*)", "([^"]*)"\],?$', source, re.M)
    labels = {key for key, _, _ in pairs}
    assert len(pairs) > 140  # every label of MESSAGES (one a line)
    for key, en, zh in pairs:
        assert en.strip() and not CJK.search(en), key
        assert CJK.search(zh) or zh == en, key  # names such as IP or VIN stay as they are
    used = set(re.findall(r'\bt\("(\w+)"\)', (STATIC_DIR / "app.js").read_text(encoding="utf-8")))
    assert used - labels == set()
