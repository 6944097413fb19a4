"""Elementwise arithmetic, comparisons, logic, where/clamp, casts and unary math."""
from __future__ import annotations

import math
from typing import Any

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument, dtype_of, node_argument

from ._util import converter, scalar_value

aten = torch.ops.aten


def _out_dtype(ctx: Any, *operands: Any) -> torch.dtype:
    return ctx.output_dtype() or B.result_dtype(ctx, *operands)


def _scaled(ctx: Any, b: Any, alpha: Any, dtype: torch.dtype) -> Any:
    """``alpha * b`` (no layer when alpha is 1)."""
    alpha = scalar_value(alpha)
    if alpha in (None, 1):
        return b
    if not (ctx.is_tensor(b) or isinstance(b, torch.Tensor)):
        return b * alpha
    return B.elementwise(ctx, "PROD", b, alpha, dtype=dtype)


@converter(aten.add.Tensor, aten.add.Scalar)
def add(ctx, target, args, kwargs, name):
    dtype = _out_dtype(ctx, args[0], args[1])
    if dtype == torch.bool:  # torch adds bools as a logical or
        return B.logical(ctx, "or", args[0], args[1])
    b = _scaled(ctx, args[1], argument(target, args, kwargs, "alpha"), dtype)
    return B.elementwise(ctx, "SUM", args[0], b, dtype=dtype)


@converter(aten.sub.Tensor, aten.sub.Scalar)
def sub(ctx, target, args, kwargs, name):
    dtype = _out_dtype(ctx, args[0], args[1])
    b = _scaled(ctx, args[1], argument(target, args, kwargs, "alpha"), dtype)
    return B.elementwise(ctx, "SUB", args[0], b, dtype=dtype)


@converter(aten.rsub.Scalar, aten.rsub.Tensor)
def rsub(ctx, target, args, kwargs, name):
    dtype = _out_dtype(ctx, args[0], args[1])
    a = _scaled(ctx, args[0], argument(target, args, kwargs, "alpha"), dtype)
    return B.elementwise(ctx, "SUB", args[1], a, dtype=dtype)


@converter(aten.mul.Tensor, aten.mul.Scalar)
def mul(ctx, target, args, kwargs, name):
    dtype = _out_dtype(ctx, args[0], args[1])
    if dtype == torch.bool:
        return B.logical(ctx, "and", args[0], args[1])
    return B.elementwise(ctx, "PROD", args[0], args[1], dtype=dtype)


def _rounding_ok(node, settings):
    mode = node_argument(node, "rounding_mode", default=None)  # only the _mode overloads have it
    return True if mode in (None, "trunc", "floor") else Refusal(f"rounding_mode={mode!r}")


def _trunc(ctx: Any, x: Any) -> Any:
    """Round toward zero: sign(x) * floor(|x|) (TensorRT has no trunc)."""
    if not ctx.torch_dtype(x).is_floating_point:
        return x
    return B.elementwise(ctx, "PROD", B.unary(ctx, "SIGN", x), B.unary(ctx, "FLOOR", B.unary(ctx, "ABS", x)))


@converter(aten.div.Tensor, aten.div.Scalar, aten.div.Tensor_mode, aten.div.Scalar_mode, validator=_rounding_ok)
def div(ctx, target, args, kwargs, name):
    mode = argument(target, args, kwargs, "rounding_mode", default=None)
    dtype = _out_dtype(ctx, args[0], args[1])
    if mode is None:
        return B.elementwise(ctx, "DIV", args[0], args[1], dtype=dtype)
    if mode == "floor":
        return B.elementwise(ctx, "FLOOR_DIV", args[0], args[1], dtype=dtype)
    q = B.elementwise(ctx, "DIV", args[0], args[1], dtype=dtype)
    return _trunc(ctx, q)


@converter(aten.floor_divide.default, aten.floor_divide.Scalar)
def floor_divide(ctx, target, args, kwargs, name):
    return B.elementwise(ctx, "FLOOR_DIV", args[0], args[1], dtype=_out_dtype(ctx, args[0], args[1]))


@converter(aten.remainder.Tensor, aten.remainder.Scalar, aten.fmod.Tensor, aten.fmod.Scalar)
def remainder(ctx, target, args, kwargs, name):
    """remainder: a - floor(a/b)*b (sign of b); fmod: a - trunc(a/b)*b (sign of a)."""
    dtype = _out_dtype(ctx, args[0], args[1])
    a, b = B.promote(ctx, args[0], args[1], dtype=dtype)
    if target in (aten.remainder.Tensor, aten.remainder.Scalar):
        q = B.elementwise(ctx, "FLOOR_DIV", a, b)
    else:
        q = _trunc(ctx, B.elementwise(ctx, "DIV", a, b))
    return B.elementwise(ctx, "SUB", a, B.elementwise(ctx, "PROD", q, b))


def _pow_ok(node, settings):
    exp = node.args[1]
    dt = dtype_of(node)
    if dt is not None and not dt.is_floating_point:
        if node.target is aten.pow.Tensor_Scalar and isinstance(exp, int) and 0 <= exp <= 4:
            return True
        return Refusal("integer pow other than a small constant exponent")
    return True


@converter(aten.pow.Tensor_Scalar, aten.pow.Tensor_Tensor, aten.pow.Scalar, validator=_pow_ok)
def pow_(ctx, target, args, kwargs, name):
    base, exp = args[0], scalar_value(args[1])
    dtype = _out_dtype(ctx, base, exp)
    if target is aten.pow.Tensor_Scalar and isinstance(exp, (int, float)) and not isinstance(exp, bool):
        x = B.cast(ctx, base, dtype)
        if exp == 1:
            return x
        if exp == 0.5 and dtype.is_floating_point:
            return B.unary(ctx, "SQRT", x)
        if float(exp).is_integer() and 0 <= exp <= 4:
            if exp == 0:
                return B.fill(ctx, B.sizes(ctx, x), 1, dtype)
            y = x
            for _ in range(int(exp) - 1):
                y = B.elementwise(ctx, "PROD", y, x)
            return y
    return B.elementwise(ctx, "POW", base, exp, dtype=dtype)


@converter(aten.maximum.default, aten.minimum.default)
def max_min(ctx, target, args, kwargs, name):
    op = "MAX" if target is aten.maximum.default else "MIN"
    return B.elementwise(ctx, op, args[0], args[1], dtype=_out_dtype(ctx, args[0], args[1]))


# -- comparisons and logic -----------------------------------------------------------
_CMP = {}
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    for _ov in ("Tensor", "Scalar"):
        _CMP[getattr(getattr(aten, _name), _ov)] = _name


@converter(*_CMP)
def comparison(ctx, target, args, kwargs, name):
    return B.compare(ctx, _CMP[target], args[0], scalar_value(args[1]))


def _bool_inputs(node, settings):
    dts = [dtype_of(a) if isinstance(a, torch.fx.Node) else type(a) for a in node.args]
    return True if all(d in (torch.bool, bool) for d in dts) else Refusal("bitwise ops on integers (only bool converts)")


_LOGIC = {aten.logical_and.default: "and", aten.logical_or.default: "or", aten.logical_xor.default: "xor",
          aten.logical_not.default: "not"}
_BITWISE = {aten.bitwise_and.Tensor: "and", aten.bitwise_or.Tensor: "or", aten.bitwise_xor.Tensor: "xor",
            aten.bitwise_and.Scalar: "and", aten.bitwise_or.Scalar: "or", aten.bitwise_xor.Scalar: "xor",
            aten.bitwise_and.Scalar_Tensor: "and", aten.bitwise_or.Scalar_Tensor: "or",
            aten.bitwise_xor.Scalar_Tensor: "xor", aten.bitwise_not.default: "not"}


@converter(*_LOGIC)
def logical(ctx, target, args, kwargs, name):
    return B.logical(ctx, _LOGIC[target], *args[:2])


@converter(*_BITWISE, validator=_bool_inputs)
def bitwise(ctx, target, args, kwargs, name):
    return B.logical(ctx, _BITWISE[target], *args[:2])


@converter(aten.where.self, aten.where.ScalarSelf, aten.where.ScalarOther, aten.where.Scalar)
def where(ctx, target, args, kwargs, name):
    a, b = scalar_value(args[1]), scalar_value(args[2])
    return B.where(ctx, args[0], a, b, dtype=_out_dtype(ctx, a, b))


@converter(aten.clamp.default, aten.clamp.Tensor)
def clamp(ctx, target, args, kwargs, name):
    lo, hi = (scalar_value(argument(target, args, kwargs, n)) for n in ("min", "max"))
    dtype = _out_dtype(ctx, args[0])
    y = B.cast(ctx, args[0], dtype)
    if lo is not None:
        y = B.elementwise(ctx, "MAX", y, lo, dtype=dtype)
    if hi is not None:
        y = B.elementwise(ctx, "MIN", y, hi, dtype=dtype)
    return y


def _cast_ok(node, settings):
    dt = dtype_of(node)
    if dt is not None and (dt.is_complex or dt.itemsize == 1 and dt not in (torch.bool, torch.uint8, torch.int8)):
        return Refusal(f"TensorRT has no {dt}")
    return True


@converter(aten._to_copy.default, aten.to.dtype, aten.to.dtype_layout, validator=_cast_ok)
def to_copy(ctx, target, args, kwargs, name):
    return B.cast(ctx, args[0], ctx.output_dtype())


# -- unary math ---------------------------------------------------------------------
_UNARY = {
    aten.sqrt.default: "SQRT", aten.exp.default: "EXP", aten.log.default: "LOG", aten.erf.default: "ERF",
    aten.abs.default: "ABS", aten.neg.default: "NEG", aten.reciprocal.default: "RECIP", aten.sign.default: "SIGN",
    aten.floor.default: "FLOOR", aten.ceil.default: "CEIL", aten.round.default: "ROUND",
    aten.sin.default: "SIN", aten.cos.default: "COS", aten.tan.default: "TAN", aten.asin.default: "ASIN",
    aten.acos.default: "ACOS", aten.atan.default: "ATAN", aten.sinh.default: "SINH", aten.cosh.default: "COSH",
    aten.asinh.default: "ASINH", aten.acosh.default: "ACOSH", aten.atanh.default: "ATANH",
}
_INT_OK = {"ABS", "NEG", "SIGN", "FLOOR", "CEIL", "ROUND"}


@converter(*_UNARY)
def unary(ctx, target, args, kwargs, name):
    op = _UNARY[target]
    x = args[0]
    out = ctx.output_dtype()
    if op not in _INT_OK or out.is_floating_point:
        x = B.cast(ctx, x, out)
    if (op in ("ABS", "NEG") and out == torch.bool) or (op in ("FLOOR", "CEIL", "ROUND") and not out.is_floating_point):
        return x  # integers round to themselves
    return B.unary(ctx, op, x)


_COMPOSED = {
    aten.rsqrt.default: lambda ctx, x: B.unary(ctx, "RECIP", B.unary(ctx, "SQRT", x)),
    aten.log2.default: lambda ctx, x: B.elementwise(ctx, "PROD", B.unary(ctx, "LOG", x), 1 / math.log(2)),
    aten.log10.default: lambda ctx, x: B.elementwise(ctx, "PROD", B.unary(ctx, "LOG", x), 1 / math.log(10)),
    aten.log1p.default: lambda ctx, x: B.unary(ctx, "LOG", B.elementwise(ctx, "SUM", x, 1.0)),
    aten.expm1.default: lambda ctx, x: B.elementwise(ctx, "SUB", B.unary(ctx, "EXP", x), 1.0),
    aten.exp2.default: lambda ctx, x: B.elementwise(ctx, "POW", 2.0, x),
    aten.trunc.default: _trunc,
}


@converter(*_COMPOSED)
def composed_unary(ctx, target, args, kwargs, name):
    """Unary ops TensorRT lacks, as two or three layers."""
    return _COMPOSED[target](ctx, B.cast(ctx, args[0], ctx.output_dtype()))


@converter(aten.isnan.default, aten.isinf.default)
def isnan_isinf(ctx, target, args, kwargs, name):
    """Integers and bools are never NaN or infinite: a constant False of the input's shape."""
    x = ctx.to_trt(args[0])
    if not ctx.torch_dtype(x).is_floating_point:
        return B.fill(ctx, B.sizes(ctx, x), False, torch.bool)
    return B.unary(ctx, "ISNAN" if target is aten.isnan.default else "ISINF", B.cast(ctx, x, torch.float32))


def _negative(ctx, v):
    """``v < 0`` counting ``-0.0`` (whose reciprocal is ``-inf``) as negative, as atan2 does."""
    zero = B.compare(ctx, "eq", v, 0)
    return B.logical(ctx, "or", B.compare(ctx, "lt", v, 0),
                     B.logical(ctx, "and", zero, B.compare(ctx, "lt", B.unary(ctx, "RECIP", v), 0)))


@converter(aten.atan2.default)
def atan2(ctx, target, args, kwargs, name):
    """``atan(y / x)`` moved to the quadrant of ``(x, y)`` (TensorRT has no atan2), with the
    axes and signed zeros handled as torch does."""
    dtype = ctx.output_dtype()
    y, x = B.promote(ctx, args[0], args[1], dtype=torch.float32)
    x_zero, y_zero = B.compare(ctx, "eq", x, 0), B.compare(ctx, "eq", y, 0)
    x_neg, y_neg = _negative(ctx, x), _negative(ctx, y)
    half_turn = B.where(ctx, y_neg, -math.pi, math.pi, dtype=torch.float32)
    q = B.unary(ctx, "ATAN", B.elementwise(ctx, "DIV", y, B.where(ctx, x_zero, 1.0, x, dtype=torch.float32)))
    off_axis = B.where(ctx, x_neg, B.elementwise(ctx, "SUM", q, half_turn), q)
    on_y_axis = B.where(ctx, y_neg, -math.pi / 2, math.pi / 2, dtype=torch.float32)
    on_axis = B.where(ctx, y_zero, B.where(ctx, x_neg, half_turn, y), on_y_axis)
    return B.cast(ctx, B.where(ctx, x_zero, on_axis, off_axis), dtype)
