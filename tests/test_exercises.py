"""The exercise checker: right answers pass, wrong ones show input/expected/actual, stubs are named."""
import math

import pytest
import torch

from chapter11 import course
from chapter11.exercises import (EXERCISES, check, conv_transpose_output_size, js_divergence,
                                 optimal_discriminator, roc_auc)


def test_reference_answers_by_hand():
    assert js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])).item() == pytest.approx(math.log(2))
    assert js_divergence(torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.5])).item() == 0.0
    assert optimal_discriminator(torch.tensor([3.0]), torch.tensor([1.0])).item() == 0.75
    assert conv_transpose_output_size(4, 4, 2, 1) == 8 and conv_transpose_output_size(1, 7, 1, 0) == 7
    assert roc_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])) == 0.75  # 3 of 4 pairs


def test_correct_solutions_pass(capsys):
    assert check("js_divergence", js_divergence)
    assert check("conv_transpose_output_size", lambda i, k, s, p, op=0: (i - 1) * s - 2 * p + k + op)
    assert check("clip", lambda w, c: torch.clamp(w, -c, c))
    assert check("nonsaturating_g_loss", lambda cf: -torch.nn.functional.logsigmoid(cf).mean())
    assert "passed" in capsys.readouterr().out


def test_wrong_solution_prints_input_expected_actual(capsys):
    assert not check("conv_transpose_output_size", lambda i, k, s, p, op=0: (i - 1) * s + k)  # forgot padding
    out = capsys.readouterr().out
    assert "input:" in out and "expected: 8" in out and "actual:   10" in out


def test_untouched_stub_is_named(capsys):
    def stub(p, q):
        raise NotImplementedError

    assert not check("js_divergence", stub)
    assert "not attempted yet" in capsys.readouterr().out


def test_crashing_solution_shows_the_input(capsys):
    assert not check("roc_auc", lambda s, y: s.no_such_method())
    out = capsys.readouterr().out
    assert "case 1 raised AttributeError" in out and "input:" in out


def test_every_exercise_reference_passes_its_own_check(capsys):
    for name, ex in EXERCISES.items():
        assert check(name, ex.reference), name


def test_unknown_exercise():
    with pytest.raises(ValueError, match="Unknown exercise"):
        check("nope", lambda: None)


def test_fast_mode_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHAPTER11_FAST", "1")
    assert course.fast() and course.pick(1000, 10) == 10
    monkeypatch.setenv("CHAPTER11_FAST", "0")
    assert not course.fast() and course.pick(1000, 10) == 1000
