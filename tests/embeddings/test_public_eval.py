"""The public-data evaluation: the result object, name resolution, and (slow) the real data sets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from embeddings.public_eval import PublicResult, SplitMetrics, evaluate_public, evaluate_sffsd, evaluate_tolokers
from fixtures.public import SFFSD_FILE, TOLOKERS_FILE
from tests.embeddings.conftest import data_dir_with


def test_result_statistics_and_summary() -> None:
    result = PublicResult(
        dataset="tolokers",
        model="test",
        splits=(SplitMetrics(0, 0.8, 0.5, 0.7), SplitMetrics(1, 0.9, 0.7, 0.8)),
        seconds=1.5,
    )
    assert result.auroc_mean == pytest.approx(0.85)
    assert result.auroc_std == pytest.approx(0.05)
    assert result.auprc_mean == pytest.approx(0.6)
    assert result.f1_mean == pytest.approx(0.75)
    assert result.summary() == (
        "tolokers: AUROC 0.8500 ± 0.0500, AUPRC 0.6000 ± 0.1000, F1-macro 0.7500 (2 splits, 1.5 s)"
    )


def test_unknown_dataset_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of: tolokers, s-ffsd"):
        evaluate_public("cora")


def test_package_import_does_not_load_torch_or_faiss() -> None:
    code = "import sys, embeddings; assert not {'torch', 'faiss'} & set(sys.modules), 'torch or faiss was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_tolokers_split_0_quality_floor() -> None:
    result = evaluate_tolokers(data_dir_with(TOLOKERS_FILE), splits=[0], bags=2)
    assert [split.split for split in result.splits] == [0]
    assert result.auroc_mean >= 0.80
    assert 0.0 < result.auprc_mean <= 1.0


@pytest.mark.slow
def test_sffsd_quality_floor() -> None:
    result = evaluate_public("S-FFSD", data_dir=data_dir_with(SFFSD_FILE))
    assert result.dataset == "s-ffsd" and len(result.splits) == 1
    assert result.auroc_mean >= 0.90
    assert result.auprc_mean >= 0.70


@pytest.mark.slow
def test_sffsd_seed_changes_only_the_bags() -> None:
    folder = data_dir_with(SFFSD_FILE)
    first = evaluate_sffsd(folder, seed=1, bags=1).auroc_mean
    second = evaluate_sffsd(folder, seed=2, bags=1).auroc_mean
    assert first != second and abs(first - second) < 0.02
