"""Builds assets/report-sans.ttf: DejaVu Sans (Debian package fonts-dejavu-core 2.37) subset to the
scripts the report's plots may need to draw, so PNG and SVG text render without any system font.

Covered: ASCII, Latin-1 and Latin Extended-A/B and Additional (French, German, Polish, Czech,
Vietnamese, … names), Greek, Cyrillic, general punctuation, arrows, the math signs the labels use
(± · × − ≤ ≥ ≈ ≠ ∞), and U+FFFD, which the plots draw in place of any character the subset lacks
(CJK, for one: a CJK font would multiply the size of the repository; the SVG plots, which a browser
draws with its own fonts, show such text, and the caption says so).

Run with fonttools installed:  python3 make_font.py /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
DejaVu fonts are free to modify and redistribute (see DEJAVU-LICENSE); the subset keeps its name
table, which names neither "Bitstream" nor "Vera" as a family.
"""
import sys
from fontTools import subset

src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def span(first, last):
    return list(range(first, last + 1))


unicodes = (
    span(0x20, 0x7E)  # ASCII
    + span(0xA0, 0x24F)  # Latin-1 Supplement, Latin Extended-A and -B
    + span(0x370, 0x3FF)  # Greek
    + span(0x400, 0x4FF)  # Cyrillic
    + span(0x1E00, 0x1EFF)  # Latin Extended Additional
    + span(0x2010, 0x205E)  # general punctuation (dashes, quotes, …)
    + [0x20AC]  # €
    + span(0x2190, 0x2193)  # arrows
    + [0x2212, 0x221E, 0x2248, 0x2260, 0x2264, 0x2265]  # − ∞ ≈ ≠ ≤ ≥
    + [0xFFFD]  # the replacement character, drawn for what the subset lacks
)
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
