"""The brain results of a map, loaded once per version of the map.

FiftyOne keeps loaded brain results per dataset and key and never checks
them again, so a long-running process (the App server, which draws the
panel) would keep drawing a map that another process has since rewritten:
a delegated compute or placing. :func:`load_results` keys its own small
cache on the run's registration time, which every new version of a map
changes, and loads a new version afresh.
"""

import collections
import threading

CACHE_SIZE = 4

_cache = collections.OrderedDict()
_lock = threading.Lock()


def load_results(dataset, key):
    """The current brain results of run ``key`` of ``dataset``."""
    stamp = (dataset.name, key, str(dataset.get_brain_info(key).timestamp))
    with _lock:
        results = _cache.get(stamp)
        if results is not None:
            _cache.move_to_end(stamp)
            return results
    results = dataset.load_brain_results(key, cache=False)
    with _lock:
        _cache[stamp] = results
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return results
