"""Load and save of the embedded graph: a pickle (the format before graph.db, timed for comparison
only: the store never opens one) against graph.db, on the same graph.

    python bench/embedded_store_format.py OLD/graph/graph.pickle /tmp/work

OLD is a state folder consumed by a revision that still wrote graph.pickle (your own: unpickling
runs whatever the file says). Prints one line.
"""
import os
import pickle
import shutil
import sys
import time
from pathlib import Path

from chainrisk.graph.stores.nx_store import NxStore

src = Path(sys.argv[1])
work = Path(sys.argv[2])
shutil.rmtree(work, ignore_errors=True)
work.mkdir()
t = time.monotonic()
with open(src, "rb") as fh:
    data = pickle.load(fh)  # noqa: S301 - the caller's own file, see above
s = NxStore(work / "empty")
s.g, s.offsets = data["graph"], data["offsets"]
s._build_indexes()  # noqa: SLF001 - what loading a pickle did
old_load = time.monotonic() - t
t = time.monotonic()
with open(work / "graph.pickle", "wb") as fh:
    pickle.dump({"format": 1, "graph": s.g, "offsets": s.offsets, "pending": {}}, fh, protocol=pickle.HIGHEST_PROTOCOL)
    fh.flush()
    os.fsync(fh.fileno())
old_save = time.monotonic() - t
new = NxStore(work / "new")
new.g, new.offsets = s.g, s.offsets
t = time.monotonic()
new.save()
new_save = time.monotonic() - t
dump = new.canonical_dump()
new.close()
t = time.monotonic()
back = NxStore(work / "new")
new_load = time.monotonic() - t
assert back.canonical_dump() == dump
print(f"{s.g.number_of_nodes()} nodes, {s.g.number_of_edges()} edges; pickle {os.path.getsize(work/'graph.pickle')/1e6:.0f} MB "
      f"load {old_load:.1f}s save {old_save:.1f}s; graph.db {os.path.getsize(work/'new'/'graph'/'graph.db')/1e6:.0f} MB "
      f"load {new_load:.1f}s save {new_save:.1f}s; load avg {os.getloadavg()[0]:.1f}")
