"""A drift canary: the same model must keep giving the same vectors.

A model's fingerprint names its weights and configuration, not what serves them: a new
sentence-transformers or torch release, another backend or device, or a provider's silent
update of a remote model changes the vectors under the same name, and new chunks then sit in a
space the old ones are not in. The first run that embeds with a fingerprint stores the vectors
of a few fixed probe texts; every later run that embeds anything embeds them again first and
compares. A probe that moved beyond the threshold fails the blocking check before any new
vector is cached.

Runs that embed nothing do not load the model for it: no new vector can drift into the index.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rag_pipeline.embedding_cache import EmbeddingCache
from rag_pipeline.ids import text_hash
from rag_pipeline.quality import CheckOutcome

PROBE_TEXTS = (
    "The committee approved the annual budget after a long debate about school funding.",
    "Mitochondria produce most of the chemical energy that powers a cell's reactions.",
    "To reset your password, open Settings, choose Security and follow the emailed link.",
    "Berlin ist die Hauptstadt Deutschlands und hat rund 3,7 Millionen Einwohner.",
    "def add(a, b):\n    return a + b",
    "Q3 revenue grew 12% year over year, driven by subscriptions in Europe.",
)
"""Prose, science, instructions, another language, code and figures: a change that touches one
kind of text shows."""


def _namespace(fingerprint: str) -> str:
    """Probe vectors live beside the chunk vectors of the cache, under their own key."""
    return f"drift-probes:{fingerprint}"


def check_drift(embed: Callable[[list[str]], np.ndarray], cache: EmbeddingCache,
                fingerprint: str, model_name: str, min_cosine: float) -> CheckOutcome:
    """Embed the probes with `embed`; store them on first use of `fingerprint`, else compare
    each with its stored vector (cosine >= `min_cosine`)."""
    hashes = [text_hash(text) for text in PROBE_TEXTS]
    now = embed(list(PROBE_TEXTS))
    stored = cache.get(_namespace(fingerprint), hashes)
    if len(stored) < len(hashes):
        cache.put(_namespace(fingerprint), dict(zip(hashes, now, strict=True)))
        return CheckOutcome(True, f"{len(hashes)} probe vectors of {model_name} stored: later "
                            "runs compare with them",
                            {"probe_baseline": "created", "num_probes": len(hashes),
                             "model": model_name, "fingerprint": fingerprint})
    before = np.stack([stored[h] for h in hashes])
    cosines = (before * now).sum(axis=1) / (
        np.linalg.norm(before, axis=1) * np.linalg.norm(now, axis=1))
    worst = int(np.argmin(cosines))
    moved = [i for i, c in enumerate(cosines) if c < min_cosine]
    return CheckOutcome(
        not moved,
        (f"{len(moved)} of {len(hashes)} probe texts moved under {model_name} "
         f"({fingerprint}); the farthest to cosine {cosines[worst]:.5f} (minimum "
         f"{min_cosine}): the model's vectors changed under the same name" if moved else
         f"{len(hashes)} probe texts unchanged under {model_name} (lowest cosine "
         f"{cosines[worst]:.6f}, minimum {min_cosine})"),
        {"probe_baseline": "compared", "num_probes": len(hashes), "num_moved": len(moved),
         "min_probe_cosine": round(float(cosines[worst]), 6), "threshold": min_cosine,
         "model": model_name, "fingerprint": fingerprint,
         "moved": [{"probe": PROBE_TEXTS[i][:60], "cosine": round(float(cosines[i]), 6)}
                   for i in moved]},
    )


def nothing_embedded(model_name: str) -> CheckOutcome:
    return CheckOutcome(True, f"no new vector in this run: {model_name} not probed",
                        {"probe_baseline": "skipped", "model": model_name})
