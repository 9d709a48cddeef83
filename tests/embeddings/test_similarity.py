"""The FAISS similarity index: exact and approximate search by application id, files, recall."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embeddings.similarity import FORMAT_VERSION, SimilarityIndex, SimilarityIndexError, measure_recall, recall_at_k
from embeddings.similarity_file import load_indexes, read_header, save_indexes


def clustered(n: int, d: int = 24, clusters: int = 40, seed: int = 7) -> np.ndarray:
    """Vectors around ``clusters`` centres: what embeddings of applications look like, roughly."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(clusters, d))
    return (centres[rng.integers(clusters, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def ids(n: int, prefix: str = "APP-") -> list[str]:
    return [f"{prefix}{i:06d}" for i in range(n)]


def brute_force(x: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def test_small_index_is_exact_and_matches_brute_force() -> None:
    x = clustered(300)
    q = clustered(20, seed=8)
    index = SimilarityIndex.build(x, ids(300), [f"t{i % 3}" for i in range(300)], embedder="demo")
    assert index.kind == "flat" and len(index) == 300 and index.recall == 1.0
    rows, dists = brute_force(x, q, 5)
    for hits, row, dist in zip(index.search(q, 5), rows, dists, strict=True):
        assert [h.application_id for h in hits] == [f"APP-{i:06d}" for i in row]
        np.testing.assert_allclose([h.distance for h in hits], dist, rtol=1e-4, atol=1e-4)
        assert [h.tag for h in hits] == [f"t{i % 3}" for i in row]


def test_too_few_vectors_for_an_inverted_file_stay_exact() -> None:
    assert SimilarityIndex.build(clustered(500), ids(500), exact_below=0).kind == "flat"


def test_search_leaves_out_the_query_itself_and_copes_with_small_indexes() -> None:
    x = clustered(4)
    index = SimilarityIndex.build(x, ids(4))
    hits = index.search(x[:1], 10, exclude=["APP-000000"])[0]
    assert len(hits) == 3 and "APP-000000" not in {h.application_id for h in hits}
    assert SimilarityIndex(24).search(x[:2], 3) == [[], []]
    with pytest.raises(ValueError, match="k must be at least 1"):
        index.search(x[:1], 0)


def test_add_replaces_and_remove_deletes_by_application_id() -> None:
    x = clustered(50)
    index = SimilarityIndex.build(x, ids(50))
    index.add(x[10:11] + 100.0, ["APP-000003"], ["cash_out_ring"])  # APP-000003 moves far away
    assert len(index) == 50 and index.tag("APP-000003") == "cash_out_ring"
    np.testing.assert_allclose(index.vector("APP-000003"), x[10] + 100.0)
    assert index.search(x[3], 1)[0][0].application_id != "APP-000003"
    assert index.remove(["APP-000003", "APP-000004", "NOT-THERE"]) == 2
    assert len(index) == 48 and "APP-000004" not in index
    found = {h.application_id for row in index.search(x, 5) for h in row}
    assert not found & {"APP-000003", "APP-000004"}
    assert index.remove(["APP-000004"]) == 0


def test_bad_vectors_are_refused_with_their_shape() -> None:
    index = SimilarityIndex(8)
    with pytest.raises(SimilarityIndexError, match=r"shape \(n, 8\), got: \(1, 3\)"):
        index.add(np.ones((1, 3)), ["A"])
    with pytest.raises(SimilarityIndexError, match="finite"):
        index.add(np.full((1, 8), np.nan), ["A"])
    with pytest.raises(ValueError, match="distinct"):
        index.add(np.ones((2, 8)), ["A", "A"])
    with pytest.raises(ValueError, match="dimension must be at least 1"):
        SimilarityIndex(0)


def test_recall_at_k_counts_the_exact_neighbours_found() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at_k(exact, exact) == 1.0
    assert recall_at_k(np.array([[1, 2, 9, 9], [8, 7, 0, 0]]), exact) == 0.5


def test_large_index_is_approximate_with_measured_recall_above_target() -> None:
    drawn = clustered(6300)
    x, fresh = drawn[:6000], drawn[6000:]
    index = SimilarityIndex.build(x, ids(6000), exact_below=2000, recall_target=0.97, seed=1)
    meta = index.metadata()
    assert meta.kind == "ivf" and meta.recall is not None and meta.recall >= 0.97 and meta.recall_k == 10
    assert 1 <= meta.params["nprobe"] <= meta.params["nlist"]
    # on queries it never saw (from the same population), recall@10 against exact search clears 0.95
    assert measure_recall(index._faiss, x, fresh, 10) > 0.95


def test_approximate_index_adds_and_removes_by_application_id() -> None:
    x = clustered(3000)
    index = SimilarityIndex.build(x, ids(3000), exact_below=1000)
    assert index.kind == "ivf"
    assert index.remove(["APP-000007"]) == 1 and "APP-000007" not in index
    assert "APP-000007" not in {h.application_id for h in index.search(x[7], 10)[0]}
    index.add(x[7:8], ["NEW-1"], ["identity_theft"])
    hit = index.search(x[7], 1)[0][0]
    assert (hit.application_id, hit.tag) == ("NEW-1", "identity_theft") and hit.distance == pytest.approx(0, abs=1e-3)


@pytest.mark.parametrize("exact_below", [10_000, 1000])
def test_save_and_load_keep_vectors_ids_tags_and_metadata(tmp_path: Path, exact_below: int) -> None:
    x = clustered(2500)
    index = SimilarityIndex.build(x, ids(2500), [None if i % 2 else "forged_documents" for i in range(2500)],
                                  embedder="features", exact_below=exact_below)
    index.remove(["APP-000001"])
    path = tmp_path / "fraud.twsim"
    index.save(path, extra={"note": "kept"})
    loaded = SimilarityIndex.load(path)
    assert loaded.metadata() == index.metadata()
    meta = loaded.metadata()
    assert (meta.embedder, meta.dimension, meta.count, meta.format_version) == ("features", 24, 2499, FORMAT_VERSION)
    assert meta.built_at.startswith("20")
    q = clustered(10, seed=3)
    assert loaded.search(q, 5) == index.search(q, 5)
    loaded.add(x[:1], ["LATER"])  # labels keep counting from where they were
    assert len(loaded) == 2500 and loaded.search(x[0], 2)[0][0].application_id in {"LATER", "APP-000000"}
    assert read_header(path)["extra"] == {"note": "kept"}


def test_one_file_holds_several_indexes(tmp_path: Path) -> None:
    fraud, legit = SimilarityIndex.build(clustered(20), ids(20, "F-")), SimilarityIndex.build(clustered(30), ids(30))
    save_indexes(tmp_path / "both.twsim", {"fraud": fraud, "legit": legit}, {"k": 5})
    indexes, extra = load_indexes(tmp_path / "both.twsim")
    assert {n: len(i) for n, i in indexes.items()} == {"fraud": 20, "legit": 30} and extra == {"k": 5}


def test_files_we_did_not_write_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SimilarityIndexError, match="does not exist"):
        load_indexes(tmp_path / "missing.twsim")
    (tmp_path / "junk.twsim").write_bytes(b"not an index at all")
    with pytest.raises(SimilarityIndexError, match="not a Tianwang similarity index file"):
        load_indexes(tmp_path / "junk.twsim")
    path = tmp_path / "future.twsim"
    SimilarityIndex.build(clustered(5), ids(5)).save(path)
    raw = path.read_bytes()
    length = int.from_bytes(raw[8:16], "little")
    header = json.loads(raw[16 : 16 + length])
    header["format_version"] = FORMAT_VERSION + 1
    new = json.dumps(header, separators=(",", ":")).encode()
    path.write_bytes(raw[:8] + len(new).to_bytes(8, "little") + new + raw[16 + length :])
    with pytest.raises(SimilarityIndexError, match=f"format version {FORMAT_VERSION + 1}"):
        load_indexes(path)
