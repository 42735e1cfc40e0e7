"""pretrained mode end to end: real photos and real spoken keywords, offline.

Pins: a pretrained run registers a brain run whose record names the network
and its weights; its map separates the photo crops and the keywords clearly
better than the dsp map (image block, MFE block) of the same samples; a
corrupt item is skipped and listed.
"""

import fiftyone as fo
import pytest

import fiftyone_plugin.explorer as fde
from fiftyone_plugin.demo import map_accuracy
from fiftyone_plugin.importing import import_samples


def test_photo_crops_map_better_with_the_pretrained_network(
    dataset, photo_dir, tmp_path
):
    import_samples(dataset, photo_dir, labels="folder")
    fake = tmp_path / "broken.jpg"
    fake.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    dataset.add_sample(fo.Sample(filepath=str(fake)))

    net = fde.compute_data_explorer(dataset, mode="pretrained", brain_key="net")
    dsp = fde.compute_data_explorer(
        dataset, brain_key="dsp", block_params={"width": 32, "height": 32}
    )

    assert [s["filepath"] for s in net.skipped] == [str(fake)]
    network = fde.get_run_record(dataset, "net")["vectors"]["network"]
    assert network["name"] in ("mobilenet_v2", "efficientnet_lite0")
    assert network["weights_sha256"]
    assert net.vector_size == 1280
    acc_net, acc_dsp = map_accuracy(dataset, "net"), map_accuracy(dataset, "dsp")
    assert acc_net >= acc_dsp + 0.1, (acc_net, acc_dsp)
    assert dsp.n_mapped == net.n_mapped


def test_keywords_map_better_with_the_pretrained_network(dataset, keyword_dir):
    import_samples(dataset, keyword_dir, labels="folder")
    net = fde.compute_data_explorer(dataset, mode="pretrained", brain_key="net")
    fde.compute_data_explorer(dataset, brain_key="mfe", block="mfe")

    assert net.vector_size == 2048
    assert fde.get_run_record(dataset, "net")["vectors"]["network"]["name"] == (
        "efficientword_net"
    )
    acc_net, acc_mfe = map_accuracy(dataset, "net"), map_accuracy(dataset, "mfe")
    assert acc_net >= acc_mfe + 0.1, (acc_net, acc_mfe)


def test_unknown_network_lists_the_known_ones(dataset, photo_dir):
    import_samples(dataset, photo_dir, labels="folder")
    with pytest.raises(fde.ExplorerError, match="efficientnet_lite0"):
        fde.compute_data_explorer(dataset, mode="pretrained", network="resnet9000")


def test_a_bfloat16_run_maps_as_well_is_recorded_and_places_new_samples(
    dataset, photo_dir
):
    import_samples(dataset, photo_dir, labels="folder")
    first = dataset.limit(len(dataset) - 3)
    f32 = fde.compute_data_explorer(first, mode="pretrained", brain_key="f32")
    bf16 = fde.compute_data_explorer(
        first, mode="pretrained", brain_key="bf16", precision="bfloat16"
    )

    record = fde.get_run_record(dataset, "bf16")
    assert record["settings"]["precision"] == "bfloat16"
    assert record["vectors"]["network"]["precision"] == "bfloat16"
    assert record["vectors"]["signature"] != (
        fde.get_run_record(dataset, "f32")["vectors"]["signature"]
    )
    assert bf16.n_mapped == f32.n_mapped == len(first)
    acc_f32, acc_bf16 = map_accuracy(dataset, "f32"), map_accuracy(dataset, "bf16")
    assert acc_bf16 >= acc_f32 - 0.03, (acc_bf16, acc_f32)

    # placing rebuilds the bfloat16 network from the record
    from fiftyone_plugin.placing import place_new_samples

    placed = place_new_samples(dataset, "bf16")
    assert placed.n_placed == 3 and not placed.skipped


def test_the_compute_form_offers_networks_and_runs_one_in_bfloat16(
    dataset, photo_dir
):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext

    import_samples(dataset, photo_dir, labels="folder")
    uri = "@data-explorer/data-explorer/compute_data_explorer"
    op = foo.get_operator(uri)
    def form(mode):
        return op.resolve_input(ExecutionContext(request_params={
            "dataset_name": dataset.name, "params": {"mode": mode}})).type

    pretrained, impulse = form("pretrained"), form("impulse")
    assert {"network", "weights", "precision"} <= set(pretrained.properties)
    assert "block" not in pretrained.properties
    assert "efficientnet_lite0" in str(pretrained.to_json())
    assert {"model_path", "layer", "block"} <= set(impulse.properties)
    assert "name the model file" in str(impulse.to_json())

    result = foo.execute_operator(uri, ctx=dict(view=dataset.view(), params=dict(
        mode="pretrained", brain_key="op", network="efficientnet_lite0",
        precision="bfloat16", weights="")))
    assert result.error is None, result.error
    settings = fde.get_run_record(dataset, "op")["settings"]
    assert settings["network"] == "efficientnet_lite0"
    assert settings["precision"] == "bfloat16" and settings["weights"] is None


def test_precision_is_checked_before_any_work_in_every_mode(dataset, rng):
    dataset.add_samples([fo.Sample(filepath=f"/data/{i}.png") for i in range(12)])
    dataset.set_values("emb", list(rng.normal(size=(12, 4))))
    for mode, precision, rule in (
        ("dsp", "bfloat16", "applies to mode='pretrained' only"),
        ("field", "bfloat16", "applies to mode='pretrained' only"),
        ("field", "garbage", "is not one of"),
        ("pretrained", "", "is not one of"),
    ):
        with pytest.raises(fde.ExplorerError, match=rule):
            fde.compute_data_explorer(dataset, mode=mode, vectors_field="emb",
                                      precision=precision, brain_key="p")
    assert "p" not in dataset.list_brain_runs()
