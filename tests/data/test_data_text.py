"""Text corpora: token counts and vocabularies against shared/data/README.md, the token rule,
folder layouts and error messages."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from lstm_search.data import (
    EOS,
    DataError,
    MissingDataError,
    load_dataset,
    locate,
    ptb_words_to_chars,
    read_lm_corpus,
    resolve_data_dir,
)
from lstm_search.data.checksums import file_entries


def _readme_table_row(readme: str, first_cell: str) -> list[str]:
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"README has no table row starting with {first_cell!r}")


def _int(cell: str) -> int:
    return int(cell.replace(",", "").replace(" ", ""))


@pytest.fixture(scope="module")
def readme(shared_data: Path) -> str:
    return (shared_data / "README.md").read_text()


@pytest.fixture(scope="module")
def ptb(shared_data: Path):
    return load_dataset("ptb", shared_data)


def test_ptb_word_counts_match_readme(ptb, readme: str) -> None:
    # README table: | split | lines | words | tokens incl. one <eos> per line | distinct types |
    section = readme.split("Penn Treebank, word level", 1)[1]
    for split in ("train", "valid", "test"):
        row = _readme_table_row(section, split)
        lines, words, tokens = _int(row[1]), _int(row[2]), _int(row[3])
        ids = ptb.split(split)
        assert len(ids) == tokens == words + lines
        assert int((ids == ptb.vocab.index(EOS)).sum()) == lines
    vocab_cell = _readme_table_row(section, "train")[4]
    assert len(ptb.vocab) == _int(vocab_cell.split("(")[0])
    assert ptb.vocab.itos[0] == EOS and "<unk>" in ptb.vocab


def test_ptb_roundtrip_first_line(ptb, shared_data: Path) -> None:
    first = (shared_data / "ptb" / "ptb.valid.txt").read_text().split("\n", 1)[0]
    n = len(first.split()) + 1
    assert ptb.vocab.decode(ptb.valid[:n]) == [*first.split(), EOS]


def test_ptb_char_counts_match_readme(shared_data: Path, readme: str) -> None:
    corpus = load_dataset("ptb_char", shared_data)
    para = next(p for p in readme.split("\n\n") if p.startswith("Penn Treebank, character level"))
    numbers = [_int(x) for x in re.findall(r"\d[\d,]*\d", para)]
    lines, symbols = numbers[0:3], numbers[3:6]  # "42068, 3370 and 3761 lines; 4975414, ..."
    n_symbols = int(re.search(r"There are (\d+) distinct symbols", para).group(1))
    n_with_eol = int(re.search(r"(\d+) with an end-of-line symbol", para).group(1))
    for split, n_lines, n_sym in zip(("train", "valid", "test"), lines, symbols):
        ids = corpus.split(split)
        assert len(ids) == n_sym + n_lines, split
        assert int((ids == corpus.vocab.index(EOS)).sum()) == n_lines
    assert len(corpus.vocab) == n_with_eol == n_symbols + 1
    assert all(len(s) == 1 for s in corpus.vocab.itos if s != EOS)  # '<unk>' is spelled out
    assert corpus.unit == "char"


def test_wikitext2_counts_match_readme(shared_data: Path, readme: str) -> None:
    corpus = load_dataset("wikitext2", shared_data)
    section = readme.split("WikiText-2 (tokenized v1", 1)[1]
    for split in ("train", "valid", "test"):
        row = _readme_table_row(section, split)
        lines, tokens, words = _int(row[1]), _int(row[2]), _int(row[3])
        assert len(corpus.split(split)) == tokens == words + lines
    vocab = int(re.search(r"vocabulary over all three splits is (\d+)", section).group(1))
    assert len(corpus.vocab) == vocab


@pytest.mark.parametrize("split", ["valid", "test", "train"])
def test_ptb_words_to_chars_reproduces_mikolov_files(shared_data: Path, split: str) -> None:
    words = (shared_data / "ptb" / f"ptb.{split}.txt").read_text()
    chars = ptb_words_to_chars(words).encode()
    expected = next(e for e in file_entries("ptb_char") if e.role == split)
    assert hashlib.sha256(chars).hexdigest() == expected.sha256
    assert chars == (shared_data / "ptb" / f"ptb.char.{split}.txt").read_bytes()


def _write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_token_rule_blank_lines_crlf_and_trailing_space(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.txt", " a b \n\n b c\n", newline="\r\n")
    valid = _write(tmp_path / "valid.txt", "a c\n ")  # whitespace after the last line end
    test = _write(tmp_path / "test.txt", "c")  # no final line end
    corpus = read_lm_corpus({"train": train, "valid": valid, "test": test}, name="toy")
    assert corpus.vocab.decode(corpus.train) == ["a", "b", EOS, EOS, "b", "c", EOS]
    assert corpus.vocab.decode(corpus.valid) == ["a", "c", EOS]
    assert corpus.vocab.decode(corpus.test) == ["c", EOS]
    # order: <eos> first, then by count (b: 2) and alphabetically among ties
    assert corpus.vocab.itos == (EOS, "b", "a", "c")
    assert corpus.train.dtype == np.int64


def test_unknown_symbol_names_file_and_line(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.txt", "a b\n")
    valid = _write(tmp_path / "valid.txt", "a\na zebra\n")
    with pytest.raises(DataError, match=r"valid\.txt, line 2: symbol 'zebra'"):
        read_lm_corpus({"train": train, "valid": valid, "test": train}, name="toy")


@pytest.mark.parametrize(
    "layout",
    [
        "ptb/ptb.{}.txt",
        "ptb.{}.txt",
        "simple-examples/data/ptb.{}.txt",
        "penn/{}.txt",
    ],
)
def test_ptb_found_in_usual_layouts(shared_data: Path, tmp_path: Path, layout: str) -> None:
    for split in ("train", "valid", "test"):
        link = tmp_path / layout.format(split)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(shared_data / "ptb" / f"ptb.{split}.txt")
    files = locate("ptb", tmp_path)
    assert files == {s: tmp_path / layout.format(s) for s in ("train", "valid", "test")}


def test_missing_split_error_names_dataset_split_paths_and_command(
    shared_data: Path, tmp_path: Path
) -> None:
    (tmp_path / "ptb").mkdir()
    for split in ("train", "test"):
        (tmp_path / "ptb" / f"ptb.{split}.txt").symlink_to(shared_data / "ptb" / f"ptb.{split}.txt")
    with pytest.raises(MissingDataError) as info:
        load_dataset("ptb", tmp_path)
    err = info.value
    assert isinstance(err, FileNotFoundError)
    assert (err.dataset, err.split) == ("ptb", "valid")
    msg = str(err)
    assert "'ptb'" in msg and "'valid'" in msg
    assert (
        str(tmp_path / "ptb" / "ptb.valid.txt") in msg and str(tmp_path / "penn/valid.txt") in msg
    )
    assert f"lstm-search data download ptb --to {tmp_path}" in msg


def test_unknown_dataset_and_data_dir_from_environment(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DataError, match=r"unknown dataset 'penn'.*ptb, ptb_char"):
        load_dataset("penn", shared_data)
    monkeypatch.setenv("LSTM_SEARCH_DATA", str(shared_data))
    assert locate("ptb")["valid"] == shared_data / "ptb" / "ptb.valid.txt"


def test_the_data_path_rule_and_its_messages(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explicit folder, else LSTM_SEARCH_DATA, else ./data; a miss names the file, the folder
    searched, which step chose it and how to set it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LSTM_SEARCH_DATA", raising=False)
    assert resolve_data_dir(None) == Path("data") and resolve_data_dir("x") == Path("x")
    with pytest.raises(MissingDataError) as e:
        locate("ptb")
    msg = str(e.value)
    assert f"data folder {tmp_path / 'data'} (the default ./data" in msg
    assert "LSTM_SEARCH_DATA=DIR" in msg and "--set task.data_dir=DIR" in msg
    (tmp_path / "data").mkdir()
    with pytest.raises(MissingDataError) as e:
        locate("jsb")
    msg = str(e.value)
    assert str(Path("data") / "music" / "tcn_mat" / "JSB_Chorales.mat") in msg
    assert f"in the data folder {tmp_path / 'data'} (the default ./data" in msg
    assert "LSTM_SEARCH_DATA=DIR" in msg and "lstm-search data download jsb --to data" in msg
    monkeypatch.setenv("LSTM_SEARCH_DATA", str(tmp_path / "elsewhere"))
    assert resolve_data_dir(None) == tmp_path / "elsewhere"
    with pytest.raises(MissingDataError, match="from LSTM_SEARCH_DATA"):
        locate("ptb")
    monkeypatch.setenv("LSTM_SEARCH_DATA", str(shared_data))
    assert locate("ptb")["train"].is_file()
    with pytest.raises(MissingDataError, match="given explicitly"):  # explicit before the variable
        locate("ptb", tmp_path / "data")


def test_importing_the_data_package_needs_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, lstm_search.data as d\n"
        "d.load_dataset, d.check_data_dir, d.download, d.synthetic_splits\n"
        "heavy = [m for m in ('torch', 'scipy', 'ray', 'optuna') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
