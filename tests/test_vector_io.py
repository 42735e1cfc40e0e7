"""Bulk reading of stored vectors.

Pins: ``vector_values`` gives exactly what FiftyOne's ``values()`` gives
(same values, dtype, shape, memory order, ``None`` for no vector) for every
kind of array a ``VectorField`` or ``ArrayField`` can hold, and other
fields and embedded paths are left to ``values()``;
``vectors_by_id`` keys the vectors by sample id and leaves out samples
without one; a damaged blob raises as ``values()`` does, never a zero.
"""

import numpy as np
import pytest

from fiftyone_plugin.vector_io import vector_values, vectors_by_id


def _samples(dataset, n):
    import fiftyone as fo

    dataset.add_samples([fo.Sample(filepath=f"/data/{k}.png") for k in range(n)])
    return dataset.values("id")


def _same(fast, slow):
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        if b is None:
            assert a is None
            continue
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.flags.f_contiguous == b.flags.f_contiguous
        np.testing.assert_array_equal(a, b)


def test_every_kind_of_array_reads_back_as_values_gives_it(dataset):
    import fiftyone as fo

    rng = np.random.default_rng(0)
    vectors = [
        rng.normal(size=64).astype(np.float32),
        rng.normal(size=7),  # float64
        np.arange(5, dtype=np.int64),
        np.arange(4, dtype=">f4"),  # big-endian
        np.zeros(0, dtype=np.float32),
        np.array([np.nan, np.inf, -0.0], dtype=np.float32),
        None,
    ]
    arrays = [  # an ArrayField holds any shape and order
        rng.normal(size=(3, 4)).astype(np.float32),
        np.asfortranarray(rng.normal(size=(3, 4))),
        rng.normal(size=(2, 2, 2)),
        None, None, None, None,
    ]
    ids = _samples(dataset, len(vectors))
    dataset.add_sample_field("v", fo.VectorField)
    dataset.add_sample_field("a", fo.ArrayField)
    dataset.set_values("v", dict(zip(ids, vectors)), key_field="id")
    dataset.set_values("a", dict(zip(ids, arrays)), key_field="id")

    for field in ("v", "a"):
        _same(vector_values(dataset, field), dataset.values(field))
        backwards = dataset.select(ids[::-1], ordered=True)
        _same(vector_values(backwards, field), backwards.values(field))


def test_many_vectors_of_one_run_share_one_header(dataset):
    import fiftyone as fo

    vectors = np.random.default_rng(1).normal(size=(500, 32)).astype(np.float32)
    ids = _samples(dataset, 500)
    dataset.add_sample_field("v", fo.VectorField)
    dataset.set_values("v", dict(zip(ids, list(vectors))), key_field="id")

    got = np.stack(vector_values(dataset, "v"))
    np.testing.assert_array_equal(got, vectors)
    assert got.dtype == np.float32


def test_other_fields_and_paths_are_read_by_values_itself(dataset):
    import fiftyone as fo

    ids = _samples(dataset, 3)
    dataset.set_values("emb", {ids[0]: [1.0, 2.0], ids[2]: [3.0]}, key_field="id")
    dataset.set_values("ragged", {ids[1]: [[1, 2], [3]]}, key_field="id")
    dataset.set_values("gt", {i: fo.Detections(detections=[
        fo.Detection(label="a", emb=np.arange(3.0)),
        fo.Detection(label="b", emb=np.ones(2)),
    ]) for i in ids}, key_field="id")
    dataset.set_values("one", {i: fo.Classification(label="c", emb=np.ones(2))
                               for i in ids}, key_field="id")

    for field in ("emb", "ragged", "gt.detections.emb", "one.emb"):
        fast, slow = vector_values(dataset, field), dataset.values(field)
        assert type(fast) is type(slow) and len(fast) == len(slow)
        assert repr(fast) == repr(slow), field
    assert vectors_by_id(dataset, "emb")[ids[0]] == [1.0, 2.0]


def test_vectors_by_id_leaves_out_samples_without_a_vector(dataset):
    import fiftyone as fo

    ids = _samples(dataset, 4)
    dataset.add_sample_field("v", fo.VectorField)
    dataset.set_values("v", {ids[1]: np.ones(3), ids[3]: np.arange(3.0)},
                       key_field="id")

    got = vectors_by_id(dataset, "v")
    assert sorted(got) == sorted([ids[1], ids[3]])
    np.testing.assert_array_equal(got[ids[3]], [0.0, 1.0, 2.0])


def test_a_damaged_blob_raises_as_values_does(dataset):
    import zlib

    import fiftyone as fo

    ids = _samples(dataset, 2)
    dataset.add_sample_field("v", fo.VectorField)
    dataset.set_values("v", {ids[0]: np.ones(3)}, key_field="id")
    dataset._sample_collection.update_one(
        {"filepath": "/data/1.png"}, {"$set": {"v": b"not zlib"}}
    )
    with pytest.raises(zlib.error):
        dataset.values("v")
    with pytest.raises(zlib.error):
        vector_values(dataset, "v")
