"""place_new_samples on real FiftyOne datasets, from the SDK and the operator.

Pins: new samples land among the mapped samples of their own group while
every old point keeps its position bit for bit; placing again places
nothing; a corrupt new file is skipped and listed while the others are
placed; a run whose vectors cannot be reproduced, or an old record, gives
a clear error; field mode, deleted samples and exact duplicates; the
operator, immediate and delegated.
"""

import fiftyone as fo
import fiftyone.operators as foo
import numpy as np
import pytest
from PIL import Image

import fiftyone_plugin.explorer as fde
import fiftyone_plugin.placing as fdp

OPERATOR = "@data-explorer/data-explorer/place_new_samples"


def _recordings(folder, rng, group, n, start=0):
    """Two groups of 50 Hz recordings: slow small waves or fast large ones."""
    freq, amp = {"slow": (1.0, 0.5), "fast": (8.0, 3.0)}[group]
    paths = []
    t = np.arange(100) * 20  # ms
    for i in range(start, start + n):
        f = freq * (1 + 0.05 * rng.standard_normal())
        x = amp * np.sin(2 * np.pi * f * t / 1000) + 0.1 * rng.standard_normal(100)
        y = amp * np.cos(2 * np.pi * f * t / 1000) + 0.1 * rng.standard_normal(100)
        rows = "\n".join(f"{a},{b:.5f},{c:.5f}" for a, b, c in zip(t, x, y))
        path = folder / f"{group}.{i}.csv"
        path.write_text("timestamp,accX,accY\n" + rows + "\n")
        paths.append(str(path))
    return paths


def _images(folder, rng, group, n, start=0):
    """Small pictures, mostly red or mostly blue."""
    channel = {"red": 0, "blue": 2}[group]
    paths = []
    for i in range(start, start + n):
        pixels = rng.integers(0, 80, size=(16, 16, 3), dtype=np.uint8)
        pixels[..., channel] = rng.integers(200, 255, size=(16, 16))
        path = folder / f"{group}.{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


def _add(dataset, paths, group=None):
    samples = [fo.Sample(filepath=p, family=group) for p in paths]
    return [str(i) for i in dataset.add_samples(samples)]


def _points(dataset, key):
    results = dataset.load_brain_results(key, cache=False)
    results.use_view(dataset.view())
    return dict(zip(results.current_sample_ids, results.current_points))


def _assert_among_own_group(dataset, points, new_ids, n=5):
    """Most of the n nearest mapped points (2-D) of each new point share its group."""
    ids, groups = dataset.values("id"), dataset.values("family")
    group_of = dict(zip(ids, groups))
    old = [i for i in points if i not in set(new_ids)]
    xy = np.stack([points[i] for i in old])
    for i in new_ids:
        nearest = np.argsort(np.linalg.norm(xy - points[i], axis=1))[:n]
        same = sum(group_of[old[j]] == group_of[i] for j in nearest)
        assert same >= n - 1, (i, group_of[i], same)


def _assert_unchanged(before, after):
    for i, point in before.items():
        assert after[i].dtype == point.dtype
        assert np.array_equal(after[i], point), i


@pytest.fixture
def motion(dataset, tmp_path, rng):
    for group in ("slow", "fast"):
        _add(dataset, _recordings(tmp_path, rng, group, 30), group)
    fde.compute_data_explorer(dataset, brain_key="motion")
    return dataset


def test_record_keeps_the_resolved_settings(motion):
    record = fde.get_run_record(motion, "motion")
    assert record["version"] == fde.RECORD_VERSION == 2
    settings = record["settings"]
    assert settings["fs"] == pytest.approx(50.0)
    assert settings["window_ms"] == pytest.approx(2000.0)
    assert settings["axes"] == ["accX", "accY"]
    assert settings["block"] is None and settings["model_path"] is None
    assert record["map"]["standardize"] is True


def test_new_recordings_land_among_their_own_group(motion, tmp_path, rng):
    before = _points(motion, "motion")
    new_ids = []
    for group in ("slow", "fast"):
        new_ids += _add(
            motion, _recordings(tmp_path, rng, group, 6, start=100), group
        )

    result = fdp.place_new_samples(motion, brain_key="motion")

    assert result.n_placed == 12 and result.skipped == []
    assert sorted(result.placed_ids) == sorted(new_ids)
    after = _points(motion, "motion")
    assert len(after) == 72 and set(new_ids) <= set(after)
    _assert_unchanged(before, after)
    _assert_among_own_group(motion, after, new_ids)
    assert all(v is not None for v in motion.select(new_ids).values("motion_vector"))

    record = fde.get_run_record(motion, "motion")
    assert record["n_mapped"] == 72 and record["n_samples"] == 72
    assert record["placed"][-1]["count"] == 12 and record["placed"][-1]["k"] == 10
    assert "motion" in fde.list_explorer_runs(motion)
    assert motion.list_brain_runs() == ["motion"]

    again = fdp.place_new_samples(motion, brain_key="motion")
    assert again.n_placed == 0 and again.skipped == []
    assert "no new samples to place" in again.summary()
    _assert_unchanged(after, _points(motion, "motion"))
    assert len(fde.get_run_record(motion, "motion")["placed"]) == 1


@pytest.fixture
def pictures(dataset, tmp_path, rng):
    for group in ("red", "blue"):
        _add(dataset, _images(tmp_path, rng, group, 20), group)
    fde.compute_data_explorer(
        dataset, brain_key="img", block_params={"width": 8, "height": 8}
    )
    return dataset


def test_corrupt_new_file_is_skipped_and_listed(pictures, tmp_path, rng):
    new_ids = []
    for group in ("red", "blue"):
        new_ids += _add(pictures, _images(tmp_path, rng, group, 3, start=50), group)
    fake = tmp_path / "fake.png"
    fake.write_text("this is not a picture\n")
    _add(pictures, [str(fake)], "red")

    result = fdp.place_new_samples(pictures, brain_key="img")

    assert result.n_placed == 6 and sorted(result.placed_ids) == sorted(new_ids)
    assert [s["filepath"] for s in result.skipped] == [str(fake)]
    assert str(fake) in result.summary()
    record = fde.get_run_record(pictures, "img")
    assert [s["filepath"] for s in record["skipped"]] == [str(fake)]
    assert record["n_mapped"] == 46 and record["n_samples"] == 47
    assert record["placed"][-1]["skipped"] == 1
    _assert_among_own_group(pictures, _points(pictures, "img"), new_ids)

    again = fdp.place_new_samples(pictures, brain_key="img")
    assert again.n_placed == 0 and len(again.skipped) == 1
    assert len(fde.get_run_record(pictures, "img")["placed"]) == 1


def _edit_record(dataset, key, edit):
    config = dataset.get_run_info(key).config
    record = dict(config.data_explorer)
    edit(record)
    config.data_explorer = record
    dataset.update_run_config(key, config)


def test_vectors_that_cannot_be_reproduced_give_a_clear_error(
    pictures, tmp_path, rng
):
    _add(pictures, _images(tmp_path, rng, "red", 2, start=50), "red")
    before = _points(pictures, "img")

    def other_size(record):
        record["settings"] = {
            **record["settings"], "block_params": {"width": 4, "height": 4}
        }

    _edit_record(pictures, "img", other_size)
    with pytest.raises(fde.ExplorerError, match=r"block: the map has .*recompute"):
        fdp.place_new_samples(pictures, brain_key="img")
    assert _points(pictures, "img").keys() == before.keys()


def test_old_record_asks_to_recompute_once(pictures, tmp_path, rng):
    _add(pictures, _images(tmp_path, rng, "red", 2, start=50), "red")

    def old(record):
        record["version"] = 1
        del record["settings"]

    _edit_record(pictures, "img", old)
    with pytest.raises(fde.ExplorerError, match="recompute the map once"):
        fdp.place_new_samples(pictures, brain_key="img")


def test_interrupted_compute_with_other_settings_is_refused(pictures):
    pictures.info[fde._PENDING_KEY] = {"img": "0123456789abcdef"}
    pictures.save()
    with pytest.raises(fde.ExplorerError, match="interrupted"):
        fdp.place_new_samples(pictures, brain_key="img")


def test_unknown_run_is_refused(pictures):
    with pytest.raises(fde.ExplorerError, match="no data explorer run 'nope'"):
        fdp.place_new_samples(pictures, brain_key="nope")


CENTRES = {"a": np.zeros(80), "b": np.full(80, 3.0)}


@pytest.fixture
def clusters(dataset, rng):
    """Two Gaussian clusters of 80-d user vectors, mapped in field mode."""
    for group, centre in CENTRES.items():
        ids = _add(dataset, [f"/data/{group}{i}.png" for i in range(40)], group)
        vectors = centre + rng.normal(size=(40, 80))
        dataset.select(ids).set_values("emb", list(vectors))
    fde.compute_data_explorer(
        dataset, mode="field", vectors_field="emb", brain_key="emb"
    )
    return dataset


def _add_vectors(dataset, rng, group, n, centre):
    ids = _add(dataset, [f"/data/new-{group}{i}.png" for i in range(n)], group)
    values = {i: centre + rng.normal(size=80) for i in ids}
    dataset.set_values("emb", values, key_field="id")
    return ids


def test_field_mode_places_user_vectors(clusters, rng):
    before = _points(clusters, "emb")
    new_ids = []
    for group, centre in CENTRES.items():
        new_ids += _add_vectors(clusters, rng, group, 8, centre)
    without = _add(clusters, ["/data/no-vector.png"], "a")

    result = fdp.place_new_samples(clusters, brain_key="emb", k=5)

    assert result.n_placed == 16 and result.k == 5
    assert [s["id"] for s in result.skipped] == without
    assert "no vector in field 'emb'" in result.skipped[0]["reason"]
    after = _points(clusters, "emb")
    _assert_unchanged(before, after)
    _assert_among_own_group(clusters, after, new_ids)


def test_deleted_samples_are_dropped_and_duplicates_share_a_position(
    clusters, rng
):
    old_ids = clusters.values("id")
    clusters.delete_samples(old_ids[:3])
    twin_of = old_ids[10]
    twin = _add(clusters, ["/data/twin.png"], "a")
    twin_vector = clusters.select(twin_of).values("emb")[0]
    clusters.set_values("emb", {twin[0]: twin_vector}, key_field="id")
    before = _points(clusters, "emb")
    assert len(before) == 77

    result = fdp.place_new_samples(clusters, brain_key="emb")

    assert result.n_placed == 1 and result.n_dropped == 3 and result.n_mapped == 78
    results = clusters.load_brain_results("emb", cache=False)
    assert len(results.sample_ids) == 78 and old_ids[0] not in results.sample_ids
    after = _points(clusters, "emb")
    _assert_unchanged(before, after)
    assert np.array_equal(after[twin[0]], after[twin_of])


def test_restored_samples_are_placed_again_with_their_vectors(clusters):
    from fiftyone_plugin import labels

    gone = clusters.values("id")[:2]
    labels.delete_samples(clusters, gone)
    _add_vectors(clusters, np.random.default_rng(1), "a", 1, CENTRES["a"])
    assert fdp.place_new_samples(clusters, brain_key="emb").n_dropped == 2

    labels.restore_deleted(clusters)
    result = fdp.place_new_samples(clusters, brain_key="emb")
    assert sorted(result.placed_ids) == sorted(gone)
    assert len(_points(clusters, "emb")) == 81


def test_operator_places_new_samples(clusters, rng):
    new_ids = _add_vectors(clusters, rng, "a", 3, CENTRES["a"])
    result = foo.execute_operator(
        OPERATOR, ctx={"view": clusters.view(), "params": {"brain_key": "emb"}}
    )
    assert result.error is None, result.error
    assert set(new_ids) <= set(_points(clusters, "emb"))
    assert fde.get_run_record(clusters, "emb")["n_mapped"] == 83


def test_delegated_operator_places_new_samples(clusters, rng):
    from fiftyone.operators.delegated import DelegatedOperationService

    new_ids = _add_vectors(clusters, rng, "b", 2, CENTRES["b"])
    result = foo.execute_operator(
        OPERATOR,
        ctx={"view": clusters.view(), "params": {"brain_key": "emb", "k": 3}},
        request_delegation=True,
    )
    assert result.error is None, result.error
    assert not set(new_ids) & set(_points(clusters, "emb"))

    DelegatedOperationService().execute_queued_operations(dataset_name=clusters.name)
    clusters.reload()
    assert set(new_ids) <= set(_points(clusters, "emb"))
    assert fde.get_run_record(clusters, "emb")["placed"][-1]["k"] == 3


def test_operator_form_offers_the_runs_and_k(clusters):
    from fiftyone.operators.executor import ExecutionContext

    op = foo.get_operator(OPERATOR)
    ctx = ExecutionContext(
        request_params={"dataset_name": clusters.name, "params": {}}
    )
    form = str(op.resolve_input(ctx).type.to_json())
    assert "'emb'" in form and "Neighbours" in form


def test_operator_reports_an_old_record(clusters):
    def old(record):
        record["version"] = 1
        del record["settings"]

    _edit_record(clusters, "emb", old)
    with pytest.raises(Exception, match="recompute the map once"):
        foo.execute_operator(
            OPERATOR, ctx={"view": clusters.view(), "params": {"brain_key": "emb"}}
        )


def test_a_stale_vector_on_a_new_sample_is_recomputed(pictures, tmp_path, rng):
    """A sample merged in with a vector another map made is not trusted."""
    field = fde.get_run_record(pictures, "img")["vectors"]["field"]
    blue_vector = pictures.match({"family": "blue"}).first()[field]
    red = _add(pictures, _images(tmp_path, rng, "red", 3, start=100), "red")
    pictures.set_values(field, {i: blue_vector for i in red}, key_field="id")

    result = fdp.place_new_samples(pictures, brain_key="img")

    assert sorted(result.placed_ids) == sorted(red)
    assert not any(
        np.array_equal(v, blue_vector) for v in pictures.select(red).values(field)
    )
    _assert_among_own_group(pictures, _points(pictures, "img"), red)


def test_field_vectors_of_another_width_are_refused(clusters, rng):
    clusters.set_values("emb", list(rng.normal(size=(len(clusters), 3))))
    _add_vectors(clusters, rng, "a", 1, CENTRES["a"])
    with pytest.raises(fde.ExplorerError, match="now 3-d.*made from 80-d"):
        fdp.place_new_samples(clusters, brain_key="emb")


def test_k_above_the_map_size_is_capped_and_said(clusters, rng):
    _add_vectors(clusters, rng, "a", 1, CENTRES["a"])
    result = fdp.place_new_samples(clusters, brain_key="emb", k=1000)
    assert result.k == 80 and result.record["placed"][-1]["k"] == 80
    assert any("k=1000 is more than the 80 samples" in n for n in result.notes)


def test_an_interrupted_swap_is_finished_or_undone(clusters, rng):
    from panels._runs import list_maps

    before = _points(clusters, "emb")
    clusters.rename_brain_run("emb", fdp.temp_key("emb"))  # stopped mid-swap
    assert list_maps(clusters) == []
    _add_vectors(clusters, rng, "a", 1, CENTRES["a"])
    result = fdp.place_new_samples(clusters, brain_key="emb")
    assert result.n_placed == 1
    assert clusters.list_brain_runs() == ["emb"]
    _assert_unchanged(before, _points(clusters, "emb"))

    import fiftyone.brain as fob

    fob.compute_visualization(  # stopped before the swap: the old map stays
        clusters, points=np.zeros((len(clusters), 2)), brain_key=fdp.temp_key("emb")
    )
    fde.clear_data_explorer(clusters, "emb")
    assert clusters.list_brain_runs() == []


@pytest.mark.parametrize(
    "width, scale, offset",
    [(60, 1e20, 0.0), (60, 1e30, 0.0), (1280, 1e-30, 0.0), (1280, 1.0, 1e4)],
)
def test_wide_vectors_of_any_scale_or_offset_are_placed_among_their_own(
    dataset, width, scale, offset
):
    # From a break test: placing ran the PCA on the raw vectors, whose
    # float32 covariance overflowed (NaN) or lost the clusters to the offset,
    # while the map had been made from vectors brought to -1..1.
    rng = np.random.default_rng(0)
    centres = np.zeros((4, width))
    centres[:, :5] = rng.normal(size=(4, 5)) * 8.0  # apart in 5 of the columns
    groups = rng.integers(0, 4, size=200)
    x = (centres[groups] + rng.normal(size=(200, width))) * scale + offset

    def add(rows):
        samples = [
            fo.Sample(filepath=f"/nonexistent/{i}.png", emb=x[i].tolist(),
                      family=str(groups[i]))
            for i in rows
        ]
        return [str(i) for i in dataset.add_samples(samples)]

    add(range(180))
    fde.compute_data_explorer(dataset, mode="field", vectors_field="emb",
                              brain_key="wide")
    new_ids = add(range(180, 200))
    result = fdp.place_new_samples(dataset, "wide")
    assert result.n_placed == 20 and not result.skipped
    points = _points(dataset, "wide")
    assert np.isfinite(np.stack(list(points.values()))).all()
    _assert_among_own_group(dataset, points, new_ids)
