"""Serves the FiftyOne App for the browser tests: ``app_server.py DATASET PORT``.

Run by :class:`harness.AppServer` in its own process, with the test
session's FiftyOne environment (database, plugins folder). It opens the
dataset with the Samples grid on the left and the Data Explorer panel on the
right (each in a tab group, so their tabs can be closed and opened), prints
READY and serves until it is stopped.
"""

import sys


def main(dataset_name, port):
    """Launches the App on 127.0.0.1:``port`` and waits forever."""
    import fiftyone as fo

    dataset = fo.load_dataset(dataset_name)
    groups = []
    for kind in ("Samples", "data_explorer"):
        panel = fo.Panel(type=kind)
        groups.append(fo.Space(children=[panel], active_child=panel.component_id))
    spaces = fo.Space(children=groups, orientation="horizontal")
    session = fo.launch_app(
        dataset, address="127.0.0.1", port=port, auto=False, spaces=spaces
    )
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    session.wait(-1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
