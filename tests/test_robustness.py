"""Bad input never crashes and never loses data (the robustness cases).

Each test is one case of the robustness issue, on a real FiftyOne dataset
with real files: the run either handles the input with a logged note or
skips the sample with a reason naming it, and the rest completes.
"""

import os
import signal
import subprocess
import sys

import fiftyone as fo
import numpy as np
import pytest
import soundfile as sf

import fiftyone_plugin.explorer as fde


def _wav(path, wave, fs=16000):
    sf.write(path, np.asarray(wave, dtype=np.float32), fs, subtype="PCM_16")
    return str(path)


def _chirps(folder, rng, n, prefix="clip"):
    """n distinct 1 s clips: tones at random frequencies with noise."""
    t = np.arange(16000) / 16000
    paths = []
    for i in range(n):
        f = rng.uniform(200, 4000)
        wave = 0.3 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(len(t))
        paths.append(_wav(folder / f"{prefix}{i}.wav", wave))
    return paths


def _add(dataset, paths):
    dataset.add_samples([fo.Sample(filepath=p) for p in paths])


def test_case1_map_from_35_of_50_vectors_lists_the_15_missing(dataset, rng):
    dataset.add_samples([fo.Sample(filepath=f"/data/s{i}.png") for i in range(50)])
    ids = dataset.values("id")
    vectors = {i: rng.normal(size=8) + (k % 3) * 5 for k, i in enumerate(ids[:35])}
    vectors.update({i: None for i in ids[45:]})  # 5 explicitly None
    dataset.set_values("emb", vectors, key_field="id")  # 10 never set

    run = fde.compute_data_explorer(
        dataset, mode="field", vectors_field="emb", brain_key="m"
    )

    assert run.n_mapped == 35
    assert "15 of 50 have no vectors" in run.summary()
    record = fde.get_run_record(dataset, "m")
    assert sorted(s["id"] for s in record["skipped"]) == sorted(ids[35:])
    results = dataset.load_brain_results("m")
    assert sorted(results.sample_ids) == sorted(ids[:35])
    assert not np.any(np.all(np.asarray(results.points) == 0, axis=1))


def test_case2_all_silent_clips_give_a_clear_error_before_mapping(dataset, tmp_path):
    paths = [_wav(tmp_path / f"silent{i}.wav", np.zeros(16000)) for i in range(100)]
    _add(dataset, paths)
    with pytest.raises(fde.ExplorerError, match="all 100 vectors are identical"):
        fde.compute_data_explorer(dataset, brain_key="silent")
    assert "silent" not in dataset.list_brain_runs()


def test_case2_identical_clips_among_varied_ones_share_one_position(
    dataset, tmp_path, rng
):
    silent = [_wav(tmp_path / f"silent{i}.wav", np.zeros(16000)) for i in range(60)]
    _add(dataset, silent + _chirps(tmp_path, rng, 40))

    run = fde.compute_data_explorer(dataset, brain_key="mixed")

    results = dataset.load_brain_results("mixed")
    points = dict(zip(results.sample_ids, np.asarray(results.points).tolist()))
    silent_ids = dataset.match(fo.ViewField("filepath").contains_str("silent"))
    positions = {tuple(points[i]) for i in silent_ids.values("id")}
    assert len(positions) == 1
    assert run.map.n_unique == 41
    assert any(
        "59 of 100 vectors duplicate" in a for a in run.record["map"]["adjustments"]
    )


@pytest.mark.parametrize("n", [1, 3])
def test_case3_too_few_samples_is_a_clear_message(dataset, tmp_path, rng, n):
    _add(dataset, _chirps(tmp_path, rng, n))
    with pytest.raises(fde.ExplorerError, match=f"{n} vectors; method='tsne' needs"):
        fde.compute_data_explorer(dataset, brain_key="few")


def test_case3_empty_view_is_a_clear_message(dataset):
    with pytest.raises(fde.ExplorerError, match="the view is empty"):
        fde.compute_data_explorer(dataset.limit(0), brain_key="none")


def test_case3_twenty_samples_lower_the_perplexity(dataset, tmp_path, rng):
    _add(dataset, _chirps(tmp_path, rng, 20))
    run = fde.compute_data_explorer(dataset, brain_key="twenty")
    assert run.record["map"]["params"]["perplexity"] < 20 / 3
    assert any("from 30 to" in a for a in run.record["map"]["adjustments"])


def test_case8_bad_files_are_handled_or_skipped_and_the_rest_completes(
    dataset, tmp_path, rng
):
    good = _chirps(tmp_path, rng, 12)
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1)
    stereo_path = _wav(tmp_path / "stereo.wav", 0.3 * stereo, fs=44100)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    short = _wav(tmp_path / "short.wav", 0.3 * rng.standard_normal(4000))
    _add(dataset, good + [stereo_path, str(empty), short])

    run = fde.compute_data_explorer(dataset, brain_key="files")

    assert [s["filepath"] for s in run.skipped] == [str(empty)]
    assert "0-byte" in run.skipped[0]["reason"]
    assert run.n_mapped == 14
    notes = " | ".join(run.notes)
    assert "stereo.wav: mixed 2 channels to mono" in notes
    assert "stereo.wav: resampled 44100 Hz -> 16000 Hz" in notes
    assert "short.wav: zero-padded 4000 -> 16000 frames" in notes


def test_case8_sensor_files_nan_row_short_recording_missing_axis(
    dataset, tmp_path, rng
):
    def csv(name, n, axes=("accX", "accY"), nan_row=None):
        rows = []
        for k in range(n):
            values = [f"{v:.4f}" for v in rng.standard_normal(len(axes))]
            if k == nan_row:
                values[0] = "nan"
            rows.append(",".join([str(k * 10)] + values))
        path = tmp_path / name
        path.write_text("timestamp," + ",".join(axes) + "\n" + "\n".join(rows) + "\n")
        return str(path)

    paths = [csv(f"rec{i}.csv", 200) for i in range(10)]
    nan = csv("nan.csv", 200, nan_row=50)
    short = csv("short.csv", 10)
    no_axis = csv("noaxis.csv", 200, axes=("accX",))
    _add(dataset, paths + [nan, short, no_axis])

    run = fde.compute_data_explorer(
        dataset, brain_key="sensors", axes=["accX", "accY"], window_ms=2000
    )

    assert [s["filepath"] for s in run.skipped] == [no_axis]
    assert "accY" in run.skipped[0]["reason"]
    notes = " | ".join(run.notes)
    assert "nan.csv: filled 1 row" in notes
    assert "short.csv: zero-padded 10 -> 200 frames" in notes
    assert run.n_mapped == 12


_KILL_SCRIPT = """
import sys
import fiftyone as fo
import fiftyone_plugin.explorer as fde
ds = fo.load_dataset(sys.argv[1])
def progress(fraction, label):
    print(label, flush=True)
fde.compute_data_explorer(ds, brain_key="long", progress=progress)
"""


def test_case9_killed_run_leaves_no_run_and_rerun_reuses_vectors(
    dataset, tmp_path, rng, caplog
):
    _add(dataset, _chirps(tmp_path, rng, 600))
    dataset.persistent = True
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILL_SCRIPT, dataset.name],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        # Kill once some, but not all, vectors are stored.
        for line in proc.stdout:
            if line.startswith("vectors: ") and not line.startswith("vectors: 600"):
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)

        dataset.reload()
        assert len(dataset) == 600
        assert "long" not in dataset.list_brain_runs()
        assert fde.list_explorer_runs(dataset) == []
        stored = len(dataset.exists("long_vector"))
        assert 0 < stored < 600

        with caplog.at_level("INFO", logger="fiftyone_plugin.explorer"):
            run = fde.compute_data_explorer(dataset, brain_key="long")
        assert run.n_mapped == 600
        assert f"reusing {stored} vectors" in caplog.text
        assert "long" in dataset.list_brain_runs()
    finally:
        dataset.persistent = False
