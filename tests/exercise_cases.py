"""Wrong and dishonest answers for each assignment, with the marks they must get.

Each case edits the reference answers (grade_id -> source) and states which graded cells must
lose their points. The tests autograde them beside the reference and the untouched stub.
"""

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Case:
    edit: Callable[[dict], dict]
    lost: frozenset
    why: str


def replace(grade_id: str, old: str, new: str):
    def edit(answers: dict) -> dict:
        assert old in answers[grade_id], f"{grade_id}: the reference no longer contains {old!r}"
        return {**answers, grade_id: answers[grade_id].replace(old, new)}
    return edit


def substitute(grade_id: str, source: str):
    def edit(answers: dict) -> dict:
        assert grade_id in answers, f"no solution cell {grade_id!r}"
        return {**answers, grade_id: source}
    return edit


CASES = {
    "01-convolution": {
        "no-flip": Case(
            replace("convolve2d_valid", "flipped = kernel[::-1, ::-1]", "flipped = kernel"),
            # The symmetric box blur survives the missing flip; the edge kernel does not.
            frozenset({"test_convolve2d_valid", "test_convolve2d_same", "test_edges"}),
            "cross-correlation instead of convolution",
        ),
        "zero-for-edge": Case(
            replace("pad_image", 'if mode == "edge" and v > 0:', "if False:"),
            frozenset({"test_pad_image", "test_convolve2d_same", "test_blurred", "test_edges"}),
            "edge padding that pads with zeros",
        ),
        "scipy": Case(
            substitute("convolve2d_valid", "\n".join([
                "from scipy.signal import convolve2d",
                "",
                "def convolve2d_valid(image, kernel):",
                "    return convolve2d(np.asarray(image, float), np.asarray(kernel, float), 'valid')",
            ])),
            # Right numbers, but the work was done by a library: both convolution tasks lose.
            frozenset({"test_convolve2d_valid", "test_convolve2d_same"}),
            "calls scipy.signal.convolve2d",
        ),
        "np-pad": Case(
            substitute("pad_image", "\n".join([
                "def pad_image(image, v, mode='zero'):",
                "    if mode not in ('zero', 'edge'):",
                "        raise ValueError(mode)",
                "    return np.pad(np.asarray(image, float), v,",
                "                  mode='constant' if mode == 'zero' else 'edge')",
            ])),
            frozenset({"test_pad_image"}),
            "calls np.pad",
        ),
    },
}
