"""The category model: decision rules, the shipped file, training end to end."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from samplemind.analysis import classify
from samplemind.analysis.classify import (
    DRUM_CLASSES,
    GROUPS,
    MODEL_VERSION,
    TAXONOMY,
    TONAL_CLASSES,
    CategoryDecision,
    CategoryModel,
    Network,
    decide_category,
    group_of,
    load_category_model,
)
from samplemind.analysis.descriptors import compute_descriptors
from samplemind.analysis.embedding import compute_embedding
from samplemind.analysis.features import (
    DESCRIPTOR_FEATURES,
    FEATURE_NAMES,
    N_FEATURES,
    classifier_features,
)
from samplemind.analysis.pipeline import analyze_bytes, analyze_bytes_with_features
from samplemind.analysis.synthetic import as_signal, harmony
from samplemind.analysis.synthetic import rhythm as synth_rhythm
from samplemind.analysis.training import (
    FOLDER_LABELS,
    Examples,
    TrainingOptions,
    corpus_files,
    fit_model,
    group_folds,
    load_examples,
    machine_of,
    synthetic_tonal_examples,
)
from samplemind.train_command import train_classifier

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "drums"
MODEL_PATH = Path(classify.__file__).parent / "models" / classify.MODEL_FILE
RATE = 44100
CLASSES = ("kick", "snare", "tom")


def wav(samples: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_24")
    return buffer.getvalue()


def need_corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    return CORPUS


# ------------------------------------------------------------------ decision rules
def probabilities(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_a_loop_with_a_key_is_melodic_and_one_without_is_a_drum_loop() -> None:
    melodic = decide_category(kind="loop", key="A minor", probabilities=None)
    drums = decide_category(kind="loop", key=None, probabilities=probabilities(0.9, 0.05, 0.05))
    assert (melodic.category, melodic.source, melodic.confidence) == ("melodic_loop", "audio", None)
    assert (drums.category, drums.top3) == ("drum_loop", None)


def one_shot(p: np.ndarray, hint: str | None = None) -> CategoryDecision:
    return decide_category(
        kind="one_shot", key=None, probabilities=p, classes=CLASSES, threshold=0.5,
        hint_category=hint,
    )  # fmt: skip


def test_a_confident_model_decides_unless_a_filename_names_a_category() -> None:
    p = probabilities(0.7, 0.2, 0.1)
    alone, agreed, named = one_shot(p), one_shot(p, "kick"), one_shot(p, "snare")
    assert (alone.category, alone.source, alone.confidence) == ("kick", "audio", 0.7)
    assert (agreed.category, agreed.source) == ("kick", "audio+filename")
    assert (named.category, named.source, named.confidence) == ("snare", "filename", 0.7)
    assert [e["category"] for e in alone.top3 or []] == ["kick", "snare", "tom"]


def test_below_the_threshold_the_filename_or_unknown_decides() -> None:
    p = probabilities(0.4, 0.35, 0.25)
    unsure, hinted, not_ours = one_shot(p), one_shot(p, "tom"), one_shot(p, "guitar")
    assert (unsure.category, unsure.source, unsure.confidence) == ("unknown", None, 0.4)
    assert (hinted.category, hinted.source, hinted.confidence) == ("tom", "filename", 0.4)
    assert one_shot(p, "kick").source == "filename"  # agrees, but the model is unsure
    assert not_ours.category == "unknown"  # not in the taxonomy
    no_model = decide_category(kind="one_shot", key=None, probabilities=None, hint_category="kick")
    assert (no_model.category, no_model.source, no_model.top3) == ("kick", "filename", None)


# ------------------------------------------------------------------ the two-level model
def constant_network(p: list[float], d: int = 2) -> Network:
    """A network whose output is ``p`` for every input (zero weights, log-p biases)."""
    return Network(np.zeros((d, 1)), np.zeros(1), np.zeros((1, len(p))), np.log(np.array(p)))


def test_groups_are_the_seven_core_groups_and_other() -> None:
    assert GROUPS == ("kick", "snare", "clap", "closed_hat", "open_hat", "cymbal", "tom", "other")
    assert (group_of("crash"), group_of("ride"), group_of("tom"), group_of("kick")) == (
        "cymbal", "cymbal", "tom", "kick",
    )  # fmt: skip
    assert {group_of(c) for c in ("rim", "percussion", "fx", "shaker", "bass", "pad")} == {"other"}


def test_a_class_gets_its_group_probability_times_its_share_in_the_group() -> None:
    model = CategoryModel(
        feature_names=("a", "b"),
        classes=("crash", "kick", "ride", "rim", "tom"),
        mean=np.zeros(2),
        scale=np.ones(2),
        # class network: crash 0.1, kick 0.5, ride 0.3, rim 0.05, tom 0.05
        network=constant_network([0.1, 0.5, 0.3, 0.05, 0.05]),
        groups=("cymbal", "kick", "other", "tom"),
        # group network: cymbal 0.4, kick 0.2, other 0.1, tom 0.3
        group_network=constant_network([0.4, 0.2, 0.1, 0.3]),
        threshold=0.5,
    )
    rows = model.probabilities(np.zeros((3, 2)))
    # crash = 0.4 * 0.1 / (0.1 + 0.3); ride = 0.4 * 0.3 / 0.4; the others are alone in their group
    np.testing.assert_allclose(rows, [[0.1, 0.2, 0.3, 0.1, 0.3]] * 3, rtol=1e-12)
    with pytest.raises(ValueError, match="groups"):
        CategoryModel(
            feature_names=("a", "b"), classes=("kick", "tom"), mean=np.zeros(2),
            scale=np.ones(2), network=constant_network([0.5, 0.5]), groups=("kick",),
            group_network=constant_network([1.0]), threshold=0.5,
        )  # fmt: skip


def test_fit_model_learns_both_levels_and_one_group_gives_the_class_network() -> None:
    rng = np.random.default_rng(0)
    centres = {"kick": (0.0, 0.0), "crash": (4.0, 0.0), "ride": (4.0, 4.0), "bass": (0.0, 4.0)}
    labels = [c for c in centres for _ in range(30)]
    x = np.array([centres[c] for c in labels]) + rng.normal(0.0, 0.3, (len(labels), 2))
    pad = np.zeros((len(labels), N_FEATURES - 2))  # the model's input width, constant beyond 2
    examples = Examples(np.hstack([x, pad]), labels, ["m"] * len(labels), labels)
    options = TrainingOptions(hidden=4, max_iter=200)
    model = fit_model(examples, options=options)
    assert model.groups == ("cymbal", "kick", "other")
    predicted = np.array(model.classes)[model.probabilities(examples.features).argmax(axis=1)]
    assert np.mean(predicted == np.array(labels)) > 0.95
    bass = examples.features[np.array(labels) == "bass"]
    tonal = Examples(
        np.vstack([bass, bass + 3.0]), ["bass"] * 30 + ["synth"] * 30, ["m"] * 60, ["x"] * 60
    )
    alone = fit_model(tonal, options=options)
    assert alone.groups == ("other",)
    z = np.nan_to_num((tonal.features - alone.mean) / alone.scale)
    np.testing.assert_allclose(
        alone.probabilities(tonal.features), alone.network.probabilities(z), rtol=1e-12
    )


def test_a_model_file_of_another_version_is_refused(tmp_path: Path) -> None:
    model = load_category_model()
    assert model is not None
    model.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["version"] = np.array(MODEL_VERSION - 1)
    np.savez(tmp_path / "old.npz", **arrays)
    with pytest.raises(ValueError, match="version"):
        CategoryModel.load(tmp_path / "old.npz")


# ------------------------------------------------------------------ the shipped model
def test_the_shipped_model_matches_the_code() -> None:
    assert MODEL_PATH.is_file() and MODEL_PATH.stat().st_size < 1_000_000
    model = load_category_model()
    assert model is not None, "the shipped model is missing or stale: run train-classifier"
    assert model.version == MODEL_VERSION
    assert model.feature_names == FEATURE_NAMES and len(FEATURE_NAMES) == N_FEATURES
    assert model.classes == tuple(sorted({*DRUM_CLASSES, *TONAL_CLASSES}))
    assert model.groups == tuple(sorted(GROUPS))
    assert set(model.classes) <= set(TAXONOMY)
    assert 0 < model.threshold <= 1
    assert model.metadata["synthetic"] == "true"
    with np.load(MODEL_PATH, allow_pickle=False) as data:  # no pickled object in it
        assert all(data[name].dtype != object for name in data.files)


def test_probabilities_are_rows_that_sum_to_one_and_nan_is_the_mean() -> None:
    model = load_category_model()
    assert model is not None
    rows = model.probabilities(np.vstack([model.mean, np.full(N_FEATURES, np.nan)]))
    assert rows.shape == (2, len(model.classes))
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)
    np.testing.assert_allclose(rows[0], rows[1])
    with pytest.raises(ValueError, match="features"):
        model.probabilities(np.zeros(N_FEATURES - 1))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = load_category_model()
    assert model is not None
    model.save(tmp_path / "copy.npz")
    again = CategoryModel.load(tmp_path / "copy.npz")
    assert (again.classes, again.feature_names, again.metadata) == (
        model.classes, model.feature_names, model.metadata,
    )  # fmt: skip
    x = np.random.default_rng(0).normal(size=(5, N_FEATURES)) * model.scale + model.mean
    np.testing.assert_allclose(again.probabilities(x), model.probabilities(x), atol=1e-6)


def test_held_out_synthetic_tonal_renders_get_their_class() -> None:
    renders = synthetic_tonal_examples(per_class=3, seed=7)  # training used seed 0
    right = 0
    for name, category, samples in renders:
        record = analyze_bytes(wav(samples), name=f"{name}.wav")
        right += record.category == category
    assert right >= len(renders) - 1


def test_loops_are_categorised_by_content() -> None:
    drums = synth_rhythm.drum_loop(120.0, pattern="rock", bars=2, sample_rate=RATE)
    chords = harmony.progression(
        7, "I-IV-V-I", bpm=140.0, instrument="organ", drum_pattern="rock", sample_rate=RATE
    )
    drum_record = analyze_bytes(wav(drums), name="a.wav")
    chord_record = analyze_bytes(wav(chords), name="b.wav")
    assert (drum_record.kind, drum_record.key, drum_record.category) == ("loop", None, "drum_loop")
    assert chord_record.kind == "loop" and chord_record.key is not None
    assert chord_record.category == "melodic_loop" and chord_record.category_top3 is None


# ------------------------------------------------------------------ features
def test_features_are_finite_where_defined_and_share_the_embedding_pass() -> None:
    samples = synth_rhythm.kick(sample_rate=RATE)
    record, features = analyze_bytes_with_features(wav(samples), name="k.wav")
    assert features is not None and features.shape == (N_FEATURES,)
    assert np.isfinite(features[descriptor_index(*DESCRIPTOR_FEATURES[:11])]).all()
    assert len(set(FEATURE_NAMES)) == N_FEATURES
    signal = as_signal(samples, sample_rate=RATE)
    fresh = compute_embedding(as_signal(samples, sample_rate=RATE))
    classifier_features(signal, compute_descriptors(signal), pitch_confidence=None, pitch_hz=None)
    np.testing.assert_array_equal(compute_embedding(signal), fresh)
    assert record.category_top3 is not None


def test_silence_gives_nan_features_but_a_category() -> None:
    record, features = analyze_bytes_with_features(wav(np.zeros(RATE // 2)), name="s.wav")
    assert features is not None
    undefined = np.ones(N_FEATURES, dtype=bool)
    undefined[descriptor_index(*DESCRIPTOR_FEATURES)] = False
    assert np.isnan(features[undefined]).all()
    assert record.category in TAXONOMY


def descriptor_index(*names: str) -> list[int]:
    return [FEATURE_NAMES.index(name) for name in names]


# ------------------------------------------------------------------ training
def test_machine_folds_never_split_a_machine() -> None:
    groups = ["a", "a", "b", "c", "c", "c", "d", "e"]
    folds = group_folds(groups, n_folds=3)
    for group in set(groups):
        assert len({int(f) for f, g in zip(folds, groups, strict=True) if g == group}) == 1
    assert set(folds.tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(folds, group_folds(groups, n_folds=3))
    assert machine_of("/x/bd/AkaiXR10__Bassdrum-01.flac") == "AkaiXR10"


def test_a_fold_seed_deals_machines_otherwise_but_never_splits_one() -> None:
    groups = [f"m{i}" for i in range(12) for _ in range(i + 1)]
    plain = group_folds(groups, n_folds=3)
    seeded = [group_folds(groups, n_folds=3, seed=seed) for seed in (1, 2)]
    for folds in seeded:
        for group in set(groups):
            assert len({int(f) for f, g in zip(folds, groups, strict=True) if g == group}) == 1
        assert set(folds.tolist()) == {0, 1, 2}
        assert partition(folds, groups) != partition(plain, groups)
    np.testing.assert_array_equal(seeded[0], group_folds(groups, n_folds=3, seed=1))


def partition(folds: np.ndarray, groups: list[str]) -> set[frozenset[str]]:
    """The folds as sets of machines, whatever their numbers."""
    return {
        frozenset(g for f, g in zip(folds, groups, strict=True) if f == fold) for fold in set(folds)
    }


def test_corpus_folders_map_to_labels_and_misc_is_left_out() -> None:
    corpus = need_corpus()
    files = corpus_files(corpus, limit_per_label=2)
    assert {label for _, label in files} == set(FOLDER_LABELS.values())
    assert all(path.parent.name != "misc" for path, _ in files)
    assert {path.parent.name for path, label in files if label == "tom"} == {"lt", "mt", "ht"}


def test_augmented_copies_keep_label_and_machine_and_differ_from_the_hit() -> None:
    corpus = need_corpus()
    examples = load_examples(corpus, synthetic=False, limit_per_label=1, augmented_copies=1)
    copies = examples.augmented
    assert copies.sum() == (~copies).sum() == len(FOLDER_LABELS)
    originals, augmented = examples.subset(~copies), examples.subset(copies)
    assert originals.labels == augmented.labels and originals.groups == augmented.groups
    assert not np.allclose(originals.features, augmented.features, equal_nan=True)
    again = load_examples(corpus, synthetic=False, limit_per_label=1, augmented_copies=1)
    np.testing.assert_array_equal(again.features, examples.features)


def test_synthetic_renders_are_deterministic() -> None:
    first = synthetic_tonal_examples(per_class=2, seed=3)
    second = synthetic_tonal_examples(per_class=2, seed=3)
    assert [(n, c) for n, c, _ in first] == [(n, c) for n, c, _ in second]
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(first, second, strict=True))
    assert {c for _, c, _ in first} == set(TONAL_CLASSES)


def test_train_classifier_command_end_to_end_is_reproducible(tmp_path: Path) -> None:
    corpus = need_corpus()
    outputs = [tmp_path / "first.npz", tmp_path / "second.npz"]
    for output in outputs:
        result = CliRunner().invoke(
            train_classifier,
            [
                "--corpus",
                str(corpus),
                "--output",
                str(output),
                "--limit-per-label",
                "3",
                "--no-synthetic",
                "--workers",
                "1",
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert "wrote" in result.output
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    model = CategoryModel.load(outputs[0])
    assert model.classes == tuple(sorted(set(FOLDER_LABELS.values())))
    assert model.feature_names == FEATURE_NAMES and model.version == MODEL_VERSION
    assert model.metadata["synthetic"] == "false"


def test_train_classifier_refuses_a_missing_corpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(train_classifier, ["--corpus", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "does not exist" in result.output
