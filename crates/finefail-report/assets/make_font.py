"""Builds assets/report-sans.ttf: DejaVu Sans (Debian package fonts-dejavu-core 2.37) subset to the
characters the report's plots use, so PNG and SVG text render without any system font.

Run with fonttools installed:  python3 make_font.py /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
DejaVu fonts are free to modify and redistribute (see DEJAVU-LICENSE); the subset keeps its name
table, which names neither "Bitstream" nor "Vera" as a family.
"""
import sys
from fontTools import subset

src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
# Printable ASCII, plus ± · – — − ≤ ≥ × and the en/em spaces used in labels.
unicodes = list(range(0x20, 0x7F)) + [0xB1, 0xB7, 0xD7, 0x2013, 0x2014, 0x2212, 0x2264, 0x2265]
opts = subset.Options()
opts.layout_features = ["kern"]
opts.hinting = False
opts.name_IDs = ["*"]
opts.notdef_outline = True
font = subset.load_font(src, opts)
sub = subset.Subsetter(opts)
sub.populate(unicodes=unicodes)
sub.subset(font)
subset.save_font(font, "report-sans.ttf", opts)
