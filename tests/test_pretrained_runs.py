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
