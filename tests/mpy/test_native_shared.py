# The viper marker transform of wristband.native, under both CPython (the twin
# and `crowdpulse flash` use it) and MicroPython (the band).  MicroPython subset only.
from wristband import native

_SRC = "\n".join(
    [
        "from wristband.native import viper",
        "@viper",
        "def f(x: int) -> int:",
        "    return x",
        "class K:",
        "    @viper",
        "    def g(self):",
        "        pass",
        "# @viper stays a comment",
        "@viperish",
        "",
    ]
)


def test_marker_lines_become_viper_and_nothing_else_changes():
    out = native.source(_SRC).split("\n")
    src = _SRC.split("\n")
    assert len(out) == len(src)  # errors keep their line numbers
    assert out[1] == "@micropython.viper"
    assert out[5] == "    @micropython.viper"
    changed = [i for i in range(len(src)) if out[i] != src[i]]
    assert changed == [1, 5]


def test_a_file_without_the_marker_is_returned_as_is():
    text = "import sys\n\n\ndef f():\n    return 1\n"
    assert native.source(text) is text


def test_every_kernel_module_is_marked():
    here = __file__.rsplit("/", 1)[0]
    for name in ("dspcore", "dspfeat", "dspspec"):
        with open(here + "/../../firmware/wristband/" + name + ".py") as fh:
            text = fh.read()
        assert "@micropython.viper" not in text, name  # plain mpy-cross must compile it
        assert native.source(text).count("@micropython.viper\n") == text.count("@viper\n"), name
        assert text.count("@viper\n") >= 4, name
