"""Text people (and robots) really send: CJK beyond the basic plane, emoji with joiners,
zero-width and direction marks, full-width forms, control characters and NUL, 10,000 characters,
markup, and text that a spreadsheet would run as a formula (issue #9 item 7).

`NASTY` is a fixed list every form gets in full; `hostile_text()` draws more of the same kind
for hypothesis.
"""

from hypothesis import strategies as st

# What a spreadsheet treats as the start of a formula (wenxu.exchange.writers._FORMULA_STARTS).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULAS = [
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    '=HYPERLINK("http://example.com/x","点这里查看")',
]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\ufeff"]
DIRECTION = ["\u202e", "\u202d", "\u202c", "\u200f", "\u200e", "\u2066", "\u2069"]
EMOJI = [
    "👨\u200d👩\u200d👧\u200d👦",  # a family: four people joined by ZWJ
    "🏳️\u200d🌈",
    "👍🏽",
    "🇨🇳",
    "🧑🏻\u200d🌾",  # a farmer, skin tone and ZWJ
    "❤️",
]
CONTROL = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"]
CJK = ["东河村三组自来水停水", "𠀀𪚥𰻞𡃁", "囧槑㐀䶵", "路灯（第３盏）不亮！"]
FULL_WIDTH = ["ＡＢＣ１２３", "＝１＋１", "＠ＳＵＭ（Ａ１）", "\u3000"]
MARKUP = ["<script>alert(1)</script>", "{{ request }}{% debug %}", "' OR 1=1 --", "%s%n%x"]
LONG = "长" * 10_000

NASTY = [
    *FORMULAS,
    CJK[1] + " 扩展区汉字 " + "".join(EMOJI),
    "路" + "灯".join(ZERO_WIDTH) + "坏了",
    "".join(FULL_WIDTH) + "全角",
    DIRECTION[0] + "灯路" + DIRECTION[2] + DIRECTION[3] + "右到左",
    "路灯\x00坏了",
    "路灯" + "".join(CONTROL[1:]) + "坏了",
    LONG,
    "".join(MARKUP),
    "\u3000 \t\n\u200b",  # nothing but white space and a zero-width space
]

_PIECES = [*FORMULA_STARTS, *ZERO_WIDTH, *DIRECTION, *EMOJI, *CONTROL, *CJK, *FULL_WIDTH, *MARKUP]


@st.composite
def hostile_text(draw: st.DrawFn, *, max_pieces: int = 6) -> str:
    """A string built from hostile pieces, ordinary CJK and any Unicode text, often starting
    like a formula; now and then one of `NASTY` as it is."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(NASTY))
    piece = st.one_of(
        st.sampled_from(_PIECES),
        st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=8),
        st.text(st.characters(codec="utf-8"), max_size=8),
    )
    text = "".join(draw(st.lists(piece, min_size=1, max_size=max_pieces)))
    if draw(st.booleans()):
        text = draw(st.sampled_from(FORMULA_STARTS)) + text
    return text
