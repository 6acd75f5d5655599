"""Runs fragmented (a heap built to be fragmented) and checks its heap map:
the SVG parses as XML; one row (g.chunk) per chunk quarry has; in each row
the cells cover pages 0..1023 once each, in order, each page in exactly
one cell; the caption and the legend are there."""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def main():
    prog = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "map.svg")
        out = subprocess.run([prog, path, os.path.join(tmp, "doctor.txt")],
                             check=True, capture_output=True, text=True).stdout
        nchunks = int(out.split("chunks ")[1].split()[0])
        root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg", root.tag
    rows = [g for g in root.iter(SVG + "g") if g.get("class") == "chunk"]
    assert len(rows) == nchunks, f"{len(rows)} rows for {nchunks} chunks"
    assert nchunks >= 3, "the fragmented heap should span several chunks"
    kinds = set()
    for row in rows:
        pages = int(row.get("data-pages"))
        assert pages == 1024, pages
        cells = row.findall(SVG + "rect")
        at = 0
        for cell in cells:
            x, w = int(cell.get("x")), int(cell.get("width"))
            assert x == at and w >= 1, f"row {row.get('data-addr')}: cell at {x} (expected {at}), width {w}"
            at += w
            kinds.add(cell.get("class"))
        assert at == pages, f"row {row.get('data-addr')} covers {at} pages"
        assert cells[0].get("class") == "header" and cells[0].get("width") == "5"  # CHUNK_HEADER_PAGES
    for kind in ("small", "large", "free-dirty"):
        assert kind in kinds, f"no {kind} cell in {sorted(kinds)}"
    texts = " ".join(t.text or "" for t in root.iter(SVG + "text"))
    assert "quarry heap map: allocated" in texts and "one row per 4 MiB chunk" in texts
    assert "huge blocks: 1" in texts, texts[:400]
    print(f"heap map: {nchunks} rows of 1024 pages, cells: {sorted(kinds)}")


main()
