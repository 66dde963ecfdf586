"""Secrets and personal data never leak through the shared masker, and what operators need to
read (durations, ports, pids, trace ids, UUIDs, timestamps) is never masked."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypedDict

from tests.security.masking_corpus import CLEAN, MASKED_AS, SENSITIVE, STRUCTURED, STRUCTURED_CLEAN


class CorpusFigures(TypedDict):
    strings: int
    sensitive_values: int
    clean: int
    leaks: list[tuple[str, str]]
    over_masked: list[str]
    misread: list[tuple[str, str]]


def corpus_figures(mask: Callable[[str], str], mask_data: Callable[[object], object]) -> CorpusFigures:
    """Leaks (sensitive values still present), over-masked texts (clean texts changed) and
    misread texts (``MASKED_AS`` texts that did not come back exactly as written there)."""
    leaks = [(text, value) for text, values in SENSITIVE for value in values if value in mask(text)]
    leaks += [
        (json.dumps(data), value)
        for data, values in STRUCTURED
        for value in values
        if value in json.dumps(mask_data(data))
    ]
    over = [text for text in CLEAN if mask(text) != text]
    over += [json.dumps(data) for data in STRUCTURED_CLEAN if mask_data(data) != data]
    misread = [(text, mask(text)) for text, expected in MASKED_AS if mask(text) != expected]
    return {
        "strings": len(SENSITIVE) + len(CLEAN) + len(MASKED_AS) + len(STRUCTURED) + len(STRUCTURED_CLEAN),
        "sensitive_values": sum(len(v) for _, v in SENSITIVE) + sum(len(v) for _, v in STRUCTURED),
        "clean": len(CLEAN) + len(STRUCTURED_CLEAN),
        "leaks": leaks,
        "over_masked": over,
        "misread": misread,
    }


def test_the_masking_corpus_has_no_leak_and_nothing_over_masked() -> None:
    from sloctl.masking import Masker

    masker = Masker()
    figures = corpus_figures(masker, masker.data)
    assert figures["strings"] >= 100
    assert figures["leaks"] == [] and figures["over_masked"] == [] and figures["misread"] == [], figures


def test_known_secret_values_are_masked_wherever_they_turn_up() -> None:
    from sloctl.masking import Masker

    masker = Masker(["Pl4tf0rm-pw", "second-pw"])
    assert masker("auth Pl4tf0rm-pw then second-pw") == "auth [secret] then [secret]"
    assert masker.data({"note": ["Pl4tf0rm-pw"]}) == {"note": ["[secret]"]}
    # a known value that is also a password= pair's value is masked once, not into "[secret]]"
    assert masker("password=Pl4tf0rm-pw sslmode=require") == "password=[secret] sslmode=require"
