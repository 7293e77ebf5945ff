"""Rewrite viper functions' syntax trees to run with the ESP32's 32-bit integers.

Used by crowdpulse.sim.bands.twin32 on the firmware's DSP source.  Only functions
decorated `@micropython.viper` are touched (they are the ones whose ints are
machine words); every integer they compute is a *site*:

- every binary operation (`a * b`, `a << n`, ...), unary minus and invert;
- every augmented assignment (`acc += x * x` is two sites);
- every `int` argument, on entry (Python must hand a viper function a value
  that fits a machine word, or the band raises OverflowError).

`Wrap` keeps the low 32 bits of each site, sign-extended, as the ESP32's ALU
does.  `Check` flattens each expression into statements, one temporary per
site, and records the first site whose value leaves the signed 32-bit range
(or whose shift count leaves 0..31: the Xtensa shifter takes it mod 32); the
function raises `Int32OverflowError` on its way out, and at the top of every loop
pass so that a wrong value cannot spin a loop.  Flattening keeps Python's
evaluation order: the later operands of `and`/`or` and the arms of `x if c
else y` are computed only when Python would compute them, and a `while`
test is re-evaluated on every pass.  (numba compiles these statements
quickly; a helper call per site would cost it minutes.)
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
_BIAS = 1 << 31
_MASK = (1 << 32) - 1
OVF_SITE = "_i32_site"  # local: first failing site (negative: a shift count)
OVF_VALUE = "_i32_value"  # local: its value
RAISE = "Int32OverflowError"  # global the transformed code raises: (site, value)

# site number -> "file:line: expression", for messages
SITES: dict[int, str] = {}
_NEXT_SITE = itertools.count(1)


# Operations whose result fits 32 bits whenever their operands do (and every
# operand here does: a load from an int32 array, a constant, or a checked
# site): Check has nothing to test on them.
CLOSED = (ast.RShift, ast.BitAnd, ast.BitOr, ast.BitXor)


class UnsupportedError(TypeError):
    """A viper function uses a construct the 32-bit rewrite does not handle."""


def is_viper(fn: ast.FunctionDef) -> bool:
    for d in fn.decorator_list:
        if isinstance(d, ast.Attribute) and d.attr == "viper":
            return True
        if isinstance(d, ast.Name) and d.id == "viper":
            return True
    return False


def _name(id_: str, store: bool = False) -> ast.Name:
    return ast.Name(id_, ast.Store() if store else ast.Load())


def _const(v: int) -> ast.Constant:
    return ast.Constant(v)


def _int_args(fn: ast.FunctionDef) -> list[ast.arg]:
    return [
        a for a in fn.args.args if isinstance(a.annotation, ast.Name) and a.annotation.id == "int"
    ]


def _as_load(target: ast.expr) -> ast.expr:
    if isinstance(target, ast.Name):
        return _name(target.id)
    if isinstance(target, ast.Subscript):
        return ast.Subscript(target.value, target.slice, ast.Load())
    raise UnsupportedError(f"augmented assignment to {ast.dump(target)}")


@dataclass
class _Sites:
    where: str  # file name, for messages
    source: str
    numbers: list[int] = field(default_factory=list)

    def new(self, node: ast.AST) -> int:
        site = next(_NEXT_SITE)
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        SITES[site] = f"{self.where}:{getattr(node, 'lineno', 0)}: {' '.join(text.split())}"
        self.numbers.append(site)
        return site


class Wrap(ast.NodeTransformer):
    """Every site becomes `((v + 2^31) & (2^32 - 1)) - 2^31`, inline."""

    def __init__(self, where: str, source: str) -> None:
        self.sites = _Sites(where, source)

    def _wrap(self, value: ast.expr, at: ast.AST) -> ast.expr:
        self.sites.new(at)
        biased = ast.BinOp(value, ast.Add(), _const(_BIAS))
        return ast.copy_location(
            ast.BinOp(ast.BinOp(biased, ast.BitAnd(), _const(_MASK)), ast.Sub(), _const(_BIAS)), at
        )

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        if not is_viper(node):
            return node
        self.generic_visit(node)
        entry: list[ast.stmt] = [
            ast.Assign([_name(a.arg, True)], self._wrap(_name(a.arg), a)) for a in _int_args(node)
        ]
        node.body = entry + node.body
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.op, CLOSED):
            self.sites.new(node)  # already 32 bits: its operands are
            return node
        return self._wrap(node, node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        return self._wrap(node, node) if isinstance(node.op, ast.USub) else node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.Assign:
        self.generic_visit(node)
        op = ast.copy_location(ast.BinOp(_as_load(node.target), node.op, node.value), node)
        if isinstance(node.op, CLOSED):
            self.sites.new(node)
            return ast.copy_location(ast.Assign([node.target], op), node)
        return ast.copy_location(ast.Assign([node.target], self._wrap(op, node)), node)


class Check:
    """Flattens every viper function so each site's value is checked."""

    def __init__(self, where: str, source: str) -> None:
        self.sites = _Sites(where, source)
        self._temps: list[str] = []

    # -- the module ------------------------------------------------------------
    def visit(self, tree: ast.Module) -> ast.Module:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and is_viper(node):
                self._function(node)
        return tree

    def _function(self, fn: ast.FunctionDef) -> None:
        self._temps = []
        entry: list[ast.stmt] = []
        for a in _int_args(fn):
            entry += self._check(_name(a.arg), self.sites.new(a), a)
        body = self._block(fn.body)
        # each temporary is assigned just before its use, in the same block
        init: list[ast.stmt] = [
            ast.Assign([_name(t, True)], _const(0)) for t in (OVF_SITE, OVF_VALUE)
        ]
        fn.body = init + entry + body + [self._exit()]

    # -- statements ------------------------------------------------------------
    def _block(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for s in stmts:
            out += self._stmt(s)
        return out or [ast.Pass()]

    def _stmt(self, s: ast.stmt) -> list[ast.stmt]:
        handler = _STMTS.get(type(s))
        if handler is None:
            raise self._unsupported(s)
        return handler(self, s)

    def _unsupported(self, s: ast.stmt) -> UnsupportedError:
        return UnsupportedError(
            f"{self.sites.where}:{s.lineno}: {type(s).__name__} in a viper function"
        )

    def _expr_stmt(self, s: ast.Expr) -> list[ast.stmt]:
        if isinstance(s.value, ast.Constant):
            return [s]  # a docstring
        pre: list[ast.stmt] = []
        return pre + [ast.copy_location(ast.Expr(self._expr(s.value, pre)), s)]

    def _augassign(self, s: ast.AugAssign) -> list[ast.stmt]:
        op = ast.copy_location(ast.BinOp(_as_load(s.target), s.op, s.value), s)
        return self._assign(ast.copy_location(ast.Assign([s.target], op), s))

    def _assign(self, s: ast.Assign) -> list[ast.stmt]:
        pre: list[ast.stmt] = []
        value = self._expr(s.value, pre)
        targets = [self._target(t, pre) for t in s.targets]
        return pre + [ast.copy_location(ast.Assign(targets, value), s)]

    def _annassign(self, s: ast.AnnAssign) -> list[ast.stmt]:
        if s.value is None:
            raise self._unsupported(s)
        pre: list[ast.stmt] = []
        value = self._expr(s.value, pre)
        return pre + [ast.copy_location(ast.Assign([self._target(s.target, pre)], value), s)]

    def _return(self, s: ast.Return) -> list[ast.stmt]:
        pre: list[ast.stmt] = []
        ret = self._expr(s.value, pre) if s.value is not None else None
        return pre + [self._exit(), ast.copy_location(ast.Return(ret), s)]

    def _if(self, s: ast.If) -> list[ast.stmt]:
        pre: list[ast.stmt] = []
        test = self._expr(s.test, pre)
        orelse = self._block(s.orelse) if s.orelse else []
        return pre + [ast.copy_location(ast.If(test, self._block(s.body), orelse), s)]

    def _for(self, s: ast.For) -> list[ast.stmt]:
        pre: list[ast.stmt] = []
        it = self._expr(s.iter, pre)
        orelse = self._block(s.orelse) if s.orelse else []
        body = [self._exit(), *self._block(s.body)]
        return pre + [ast.copy_location(ast.For(s.target, it, body, orelse), s)]

    def _keep(self, s: ast.stmt) -> list[ast.stmt]:
        return [s]

    def _while(self, s: ast.While) -> list[ast.stmt]:
        if s.orelse:
            raise UnsupportedError(f"{self.sites.where}:{s.lineno}: while ... else")
        pre: list[ast.stmt] = []
        test = self._expr(s.test, pre)
        body = [self._exit(), *self._block(s.body)]
        if not pre:
            return [ast.copy_location(ast.While(test, body, []), s)]
        # the test's sites are computed on every pass, before the test
        stop = ast.If(ast.UnaryOp(ast.Not(), test), [ast.Break()], [])
        return [ast.copy_location(ast.While(_const(True), [*pre, stop, *body], []), s)]

    def _target(self, t: ast.expr, pre: list[ast.stmt]) -> ast.expr:
        if isinstance(t, ast.Subscript):
            return ast.Subscript(self._expr(t.value, pre), self._expr(t.slice, pre), ast.Store())
        if isinstance(t, ast.Name):
            return t
        raise UnsupportedError(f"{self.sites.where}: assignment to {ast.unparse(t)}")

    # -- expressions -----------------------------------------------------------
    def _temp(self) -> str:
        name = f"_i32_t{len(self._temps)}"
        self._temps.append(name)
        return name

    def _expr(self, e: ast.expr, pre: list[ast.stmt]) -> ast.expr:
        handler = _EXPRS.get(type(e))
        if handler is None:
            raise UnsupportedError(
                f"{self.sites.where}:{getattr(e, 'lineno', 0)}: "
                f"{type(e).__name__} in a viper function"
            )
        return handler(self, e, pre)

    def _binop(self, e: ast.BinOp, pre: list[ast.stmt]) -> ast.expr:
        left = self._expr(e.left, pre)
        right = self._expr(e.right, pre)
        if isinstance(e.op, (ast.LShift, ast.RShift)):
            right = self._shift_count(right, e.right, pre)
        out = ast.BinOp(left, e.op, right)
        if isinstance(e.op, CLOSED):
            self.sites.new(e)  # in range whenever its operands are: nothing to check
            return out
        return self._site(out, e, pre)

    def _unaryop(self, e: ast.UnaryOp, pre: list[ast.stmt]) -> ast.expr:
        unary = ast.UnaryOp(e.op, self._expr(e.operand, pre))
        return self._site(unary, e, pre) if isinstance(e.op, ast.USub) else unary

    def _call(self, e: ast.Call, pre: list[ast.stmt]) -> ast.expr:
        return ast.Call(
            e.func,
            [self._expr(a, pre) for a in e.args],
            [ast.keyword(k.arg, self._expr(k.value, pre)) for k in e.keywords],
        )

    def _subscript(self, e: ast.Subscript, pre: list[ast.stmt]) -> ast.expr:
        return ast.Subscript(self._expr(e.value, pre), self._expr(e.slice, pre), ast.Load())

    def _leaf(self, e: ast.expr, pre: list[ast.stmt]) -> ast.expr:
        return e

    def _tuple(self, e: ast.Tuple, pre: list[ast.stmt]) -> ast.expr:
        return ast.Tuple([self._expr(x, pre) for x in e.elts], ast.Load())

    def _site(self, value: ast.expr, at: ast.expr, pre: list[ast.stmt]) -> ast.Name:
        t = self._temp()
        pre.append(ast.copy_location(ast.Assign([_name(t, True)], value), at))
        pre += self._check(_name(t), self.sites.new(at), at)
        return _name(t)

    def _shift_count(self, count: ast.expr, at: ast.expr, pre: list[ast.stmt]) -> ast.expr:
        if (
            isinstance(count, ast.Constant)
            and isinstance(count.value, int)
            and 0 <= count.value <= 31
        ):
            return count
        t = self._temp()
        pre.append(ast.copy_location(ast.Assign([_name(t, True)], count), at))
        bad = ast.BoolOp(
            ast.Or(),
            [
                ast.Compare(_name(t), [ast.Lt()], [_const(0)]),
                ast.Compare(_name(t), [ast.Gt()], [_const(31)]),
            ],
        )
        pre.append(self._record(bad, -self.sites.new(at), _name(t)))
        return _name(t)

    def _compare(self, e: ast.Compare, pre: list[ast.stmt]) -> ast.expr:
        left = self._expr(e.left, pre)
        if len(e.ops) == 1:
            return ast.Compare(left, e.ops, [self._expr(e.comparators[0], pre)])
        # a < b < c: b once, c only when a < b holds, as Python does
        middle = self._expr(e.comparators[0], pre)
        if not isinstance(middle, (ast.Name, ast.Constant)):
            t = self._temp()
            pre.append(ast.Assign([_name(t, True)], middle))
            middle = _name(t)
        rest = ast.Compare(middle, e.ops[1:], e.comparators[1:])
        first = ast.Compare(left, e.ops[:1], [middle])
        return self._boolop(ast.BoolOp(ast.And(), [first, rest]), pre)

    def _boolop(self, e: ast.BoolOp, pre: list[ast.stmt]) -> ast.expr:
        g = self._temp()
        pre.append(ast.Assign([_name(g, True)], self._expr(e.values[0], pre)))
        for v in e.values[1:]:
            sub: list[ast.stmt] = []
            value = self._expr(v, sub)
            go: ast.expr = (
                _name(g) if isinstance(e.op, ast.And) else ast.UnaryOp(ast.Not(), _name(g))
            )
            pre.append(ast.If(go, [*sub, ast.Assign([_name(g, True)], value)], []))
        return _name(g)

    def _ifexp(self, e: ast.IfExp, pre: list[ast.stmt]) -> ast.expr:
        g = self._temp()
        pre.append(ast.Assign([_name(g, True)], self._expr(e.test, pre)))
        body: list[ast.stmt] = []
        orelse: list[ast.stmt] = []
        b = self._expr(e.body, body)
        o = self._expr(e.orelse, orelse)
        if not body and not orelse:
            return ast.IfExp(_name(g), b, o)
        r = self._temp()
        pre.append(
            ast.If(
                _name(g),
                [*body, ast.Assign([_name(r, True)], b)],
                [*orelse, ast.Assign([_name(r, True)], o)],
            )
        )
        return _name(r)

    # -- checks ----------------------------------------------------------------
    def _check(self, value: ast.Name, site: int, at: ast.AST) -> list[ast.stmt]:
        # (v + 2^31) >> 32 is 0 exactly when v fits a signed 32-bit int
        high = ast.BinOp(ast.BinOp(value, ast.Add(), _const(_BIAS)), ast.RShift(), _const(32))
        bad = ast.Compare(high, [ast.NotEq()], [_const(0)])
        return [ast.copy_location(self._record(bad, site, value), at)]

    def _record(self, bad: ast.expr, site: int, value: ast.expr) -> ast.If:
        first = ast.Compare(_name(OVF_SITE), [ast.Eq()], [_const(0)])
        note: list[ast.stmt] = [
            ast.Assign([_name(OVF_SITE, True)], _const(site)),
            ast.Assign([_name(OVF_VALUE, True)], value),
        ]
        return ast.If(ast.BoolOp(ast.And(), [bad, first]), note, [])

    def _exit(self) -> ast.If:
        error = ast.Call(_name(RAISE), [_name(OVF_SITE), _name(OVF_VALUE)], [])
        return ast.If(
            ast.Compare(_name(OVF_SITE), [ast.NotEq()], [_const(0)]), [ast.Raise(error, None)], []
        )


# node type -> Check's method for it, one small method per construct the rewrite
# handles; anything else is UnsupportedError.  (ast.parse makes only these exact types.)
_STMTS: dict[type[ast.AST], Callable[..., list[ast.stmt]]] = {
    ast.Expr: Check._expr_stmt,
    ast.AugAssign: Check._augassign,
    ast.Assign: Check._assign,
    ast.AnnAssign: Check._annassign,
    ast.Return: Check._return,
    ast.If: Check._if,
    ast.While: Check._while,
    ast.For: Check._for,
    **dict.fromkeys((ast.Pass, ast.Break, ast.Continue), Check._keep),
}
_EXPRS: dict[type[ast.AST], Callable[..., ast.expr]] = {
    ast.BinOp: Check._binop,
    ast.UnaryOp: Check._unaryop,
    ast.BoolOp: Check._boolop,
    ast.IfExp: Check._ifexp,
    ast.Compare: Check._compare,
    ast.Call: Check._call,
    ast.Subscript: Check._subscript,
    **dict.fromkeys((ast.Name, ast.Constant, ast.Attribute), Check._leaf),
    ast.Tuple: Check._tuple,
}
