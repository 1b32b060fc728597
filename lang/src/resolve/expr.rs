//! Typing of expressions, literals and plane predicates.
//!
//! In: `ast::Expr` and the context it appears in (which records it may read). Out: `typed::Expr` with a
//! type on every node. Bare enum variants are resolved by the type the context expects (the other side
//! of a comparison, the left operand of `in`), `int` widens to `float` where a float is expected, and an
//! optional field is accepted only under `??` or `known`.

use super::{Ctx, Resolver};
use crate::ast::{self, LitKind};
use crate::diagnostics as diag;
use crate::source::Span;
use crate::typed::*;

/// A comparison operand before its type is known: a bare variant waits for the other side.
enum Operand {
    Typed(Expr),
    Variant(ast::Ident),
}

fn unparen(e: &ast::Expr) -> &ast::Expr {
    let mut e = e;
    while let ast::ExprKind::Paren(inner) = &e.kind {
        e = inner;
    }
    e
}

impl Resolver<'_> {
    pub(crate) fn ty_name(&self, ty: Ty) -> String {
        match ty {
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Float => "float".into(),
            Ty::Duration => "duration".into(),
            Ty::Version => "version".into(),
            Ty::Enum(e) => self.enums[e.index()].name.clone(),
        }
    }

    /// A `bool` expression.
    pub(crate) fn condition(
        &mut self,
        e: &ast::Expr,
        ctx: Ctx,
        recs: &mut Records,
    ) -> Option<Expr> {
        let x = self.infer(e, ctx, recs, Some(Ty::Bool))?;
        if x.ty == Ty::Bool {
            return Some(x);
        }
        self.not_a_condition(e, x.ty);
        None
    }

    #[inline(never)]
    fn not_a_condition(&mut self, e: &ast::Expr, ty: Ty) {
        let d = match (&unparen(e).kind, ty) {
            (ast::ExprKind::Name(id), Ty::Enum(_)) => {
                diag::variant_without_context(e.span, &id.name)
            }
            _ => diag::not_a_condition(e.span, &self.ty_name(ty)),
        };
        self.error(d);
    }

    fn coerce(&mut self, x: Expr, ty: Ty) -> Option<Expr> {
        if x.ty == ty {
            return Some(x);
        }
        if x.ty == Ty::Int && ty == Ty::Float {
            return Some(widen(x));
        }
        let d = diag::type_mismatch(x.span, &self.ty_name(ty), &self.ty_name(x.ty));
        self.error(d);
        None
    }

    /// Types an expression; `hint` is the type the context expects, used only to resolve bare variants.
    ///
    /// This recurses once per operator of the source (at most `limits::MAX_EXPR_DEPTH` deep), so it
    /// only dispatches and each form has its own function: a stack frame holding every form was about
    /// 6 KiB per level in a debug build.
    fn infer(
        &mut self,
        e: &ast::Expr,
        ctx: Ctx,
        recs: &mut Records,
        hint: Option<Ty>,
    ) -> Option<Expr> {
        let span = e.span;
        match &e.kind {
            ast::ExprKind::Lit(l) => self.literal_expr(l, false, span),
            ast::ExprKind::Name(id) => self.name_expr(id, ctx, recs, hint),
            ast::ExprKind::Field(f) => self.field_expr(f, ctx, recs, span),
            ast::ExprKind::Known(inner) => self.known_expr(inner, ctx, recs, span),
            ast::ExprKind::Call(name, args) => self.call(name, args, ctx, recs, span),
            ast::ExprKind::Paren(inner) => {
                let mut x = self.infer(inner, ctx, recs, hint)?;
                x.span = span;
                Some(x)
            }
            ast::ExprKind::Neg(inner) => self.neg_expr(inner, ctx, recs, span),
            ast::ExprKind::Not(inner) => {
                let x = self.condition(inner, ctx, recs)?;
                Some(Expr {
                    kind: ExprKind::Not(Box::new(x)),
                    ty: Ty::Bool,
                    span,
                })
            }
            ast::ExprKind::Binary(op, a, b) => self.binary_expr(*op, a, b, ctx, recs, span),
            ast::ExprKind::Coalesce(operands) => self.coalesce(operands, ctx, recs, hint),
            ast::ExprKind::Compare(first, tails) => self.compare(first, tails, ctx, recs, span),
            ast::ExprKind::And(xs) => self.logic_expr(xs, true, ctx, recs, span),
            ast::ExprKind::Or(xs) => self.logic_expr(xs, false, ctx, recs, span),
        }
    }

    #[inline(never)]
    fn literal_expr(&mut self, l: &ast::Literal, negated: bool, span: Span) -> Option<Expr> {
        let v = self.literal_value(l, negated, span)?;
        Some(Expr {
            kind: ExprKind::Const(v),
            ty: v.ty(),
            span,
        })
    }

    #[inline(never)]
    fn field_expr(
        &mut self,
        f: &ast::FieldRef,
        ctx: Ctx,
        recs: &mut Records,
        span: Span,
    ) -> Option<Expr> {
        let (fr, ty, optional) = self.field_ref(f, ctx, recs)?;
        if optional {
            let name = format!("{}.{}", f.record.name, f.field.name);
            let d = diag::optional_used_directly(span, &name, &self.ty_name(ty));
            self.error(d);
            return None;
        }
        Some(Expr {
            kind: ExprKind::Field(fr),
            ty,
            span,
        })
    }

    #[inline(never)]
    fn known_expr(
        &mut self,
        inner: &ast::Expr,
        ctx: Ctx,
        recs: &mut Records,
        span: Span,
    ) -> Option<Expr> {
        let inner = unparen(inner);
        if let ast::ExprKind::Field(f) = &inner.kind {
            let (fr, _, optional) = self.field_ref(f, ctx, recs)?;
            if optional {
                return Some(Expr {
                    kind: ExprKind::Known(fr),
                    ty: Ty::Bool,
                    span,
                });
            }
            let name = format!("`{}.{}`", f.record.name, f.field.name);
            self.error(diag::needless_known(span, &name));
        } else {
            self.infer(inner, ctx, recs, None)?;
            self.error(diag::needless_known(span, "this expression"));
        }
        Some(Expr {
            kind: ExprKind::Const(Value::Bool(true)),
            ty: Ty::Bool,
            span,
        })
    }

    #[inline(never)]
    fn neg_expr(
        &mut self,
        inner: &ast::Expr,
        ctx: Ctx,
        recs: &mut Records,
        span: Span,
    ) -> Option<Expr> {
        if let ast::ExprKind::Lit(l) = &inner.kind {
            return self.literal_expr(l, true, span);
        }
        let x = self.infer(inner, ctx, recs, None)?;
        let kind = match x.ty {
            Ty::Int | Ty::Duration => NumKind::Int,
            Ty::Float => NumKind::Float,
            other => {
                let d = diag::bad_unary(span, "-", &self.ty_name(other));
                self.error(d);
                return None;
            }
        };
        Some(Expr {
            ty: x.ty,
            kind: ExprKind::Neg(kind, Box::new(x)),
            span,
        })
    }

    #[inline(never)]
    fn binary_expr(
        &mut self,
        op: ast::BinOp,
        a: &ast::Expr,
        b: &ast::Expr,
        ctx: Ctx,
        recs: &mut Records,
        span: Span,
    ) -> Option<Expr> {
        let a = self.infer(a, ctx, recs, None);
        let b = self.infer(b, ctx, recs, None);
        let (a, b) = (a?, b?);
        let op = match op {
            ast::BinOp::Add => ArithOp::Add,
            ast::BinOp::Sub => ArithOp::Sub,
            ast::BinOp::Mul => ArithOp::Mul,
            ast::BinOp::Div => ArithOp::Div,
        };
        self.arith(op, a, b, span)
    }

    #[inline(never)]
    fn logic_expr(
        &mut self,
        xs: &[ast::Expr],
        is_and: bool,
        ctx: Ctx,
        recs: &mut Records,
        span: Span,
    ) -> Option<Expr> {
        let mut out = Vec::with_capacity(xs.len());
        let mut ok = true;
        for x in xs {
            match self.condition(x, ctx, recs) {
                Some(x) => out.push(x),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let kind = if is_and {
            ExprKind::And(out)
        } else {
            ExprKind::Or(out)
        };
        Some(Expr {
            kind,
            ty: Ty::Bool,
            span,
        })
    }

    fn arith(&mut self, op: ArithOp, a: Expr, b: Expr, span: Span) -> Option<Expr> {
        use Ty::*;
        let (a, b, ty, kind) = match (a.ty, b.ty, op) {
            (Int, Int, _) => (a, b, Int, NumKind::Int),
            (Float, Float, _) => (a, b, Float, NumKind::Float),
            (Int, Float, _) => (widen(a), b, Float, NumKind::Float),
            (Float, Int, _) => (a, widen(b), Float, NumKind::Float),
            (Duration, Duration, ArithOp::Add | ArithOp::Sub | ArithOp::Min | ArithOp::Max) => {
                (a, b, Duration, NumKind::Int)
            }
            (Duration, Int, ArithOp::Mul | ArithOp::Div) | (Int, Duration, ArithOp::Mul) => {
                (a, b, Duration, NumKind::Int)
            }
            (ta, tb, _) => {
                let sym = match op {
                    ArithOp::Add => "+",
                    ArithOp::Sub => "-",
                    ArithOp::Mul => "*",
                    ArithOp::Div => "/",
                    ArithOp::Min => "min",
                    ArithOp::Max => "max",
                };
                let d = diag::bad_arithmetic(span, sym, &self.ty_name(ta), &self.ty_name(tb));
                self.error(d);
                return None;
            }
        };
        Some(Expr {
            kind: ExprKind::Arith(op, kind, Box::new(a), Box::new(b)),
            ty,
            span,
        })
    }

    fn call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        ctx: Ctx,
        recs: &mut Records,
        span: Span,
    ) -> Option<Expr> {
        let arity = match name.name.as_str() {
            "min" | "max" => 2,
            "abs" => 1,
            _ => {
                self.error(diag::unknown_function(name.span, &name.name));
                return None;
            }
        };
        if args.len() != arity {
            self.error(diag::wrong_arity(span, &name.name, arity, args.len()));
            return None;
        }
        let typed: Vec<Option<Expr>> = args
            .iter()
            .map(|a| self.infer(a, ctx, recs, None))
            .collect();
        let mut typed: Vec<Expr> = typed.into_iter().collect::<Option<_>>()?;
        if arity == 1 {
            let x = typed.pop()?;
            let kind = match x.ty {
                Ty::Int | Ty::Duration => NumKind::Int,
                Ty::Float => NumKind::Float,
                other => {
                    let d = diag::bad_unary(span, "abs", &self.ty_name(other));
                    self.error(d);
                    return None;
                }
            };
            return Some(Expr {
                ty: x.ty,
                kind: ExprKind::Abs(kind, Box::new(x)),
                span,
            });
        }
        let b = typed.pop()?;
        let a = typed.pop()?;
        let op = if name.name == "min" {
            ArithOp::Min
        } else {
            ArithOp::Max
        };
        self.arith(op, a, b, span)
    }

    fn coalesce(
        &mut self,
        operands: &[ast::Expr],
        ctx: Ctx,
        recs: &mut Records,
        hint: Option<Ty>,
    ) -> Option<Expr> {
        let (last, rest) = operands.split_last()?;
        // The default takes the type of the field it stands in for: that decides a bare variant
        // (`device.mode ?? idle` where two enums have `idle`).
        let field_ty = rest.last().and_then(|op| match &unparen(op).kind {
            ast::ExprKind::Field(f) => self.field_ty(f),
            _ => None,
        });
        let mut acc = self.infer(last, ctx, recs, field_ty.or(hint));
        for operand in rest.iter().rev() {
            let inner = unparen(operand);
            if let ast::ExprKind::Field(f) = &inner.kind {
                let (fr, ty, optional) = self.field_ref(f, ctx, recs)?;
                let default = acc.take();
                if optional {
                    let default = self.coerce(default?, ty)?;
                    let span = operand.span.to(default.span);
                    acc = Some(Expr {
                        kind: ExprKind::Coalesce(fr, Box::new(default)),
                        ty,
                        span,
                    });
                    continue;
                }
                let name = format!("`{}.{}`", f.record.name, f.field.name);
                self.error(diag::needless_default(operand.span, &name));
                acc = Some(Expr {
                    kind: ExprKind::Field(fr),
                    ty,
                    span: operand.span,
                });
            } else {
                let x = self.infer(operand, ctx, recs, hint)?;
                self.error(diag::needless_default(operand.span, "this expression"));
                acc = Some(x);
            }
        }
        acc
    }

    fn operand(&mut self, e: &ast::Expr, ctx: Ctx, recs: &mut Records) -> Option<Operand> {
        if let ast::ExprKind::Name(id) = &unparen(e).kind {
            // Any bare name but a let waits for the other side: a variant is resolved by its type, and
            // an unknown name next to an enum is reported as an unknown variant of that enum.
            if self.variant_owners.contains_key(&id.name)
                || !self.let_by_name.contains_key(&id.name)
            {
                return Some(Operand::Variant(id.clone()));
            }
        }
        self.infer(e, ctx, recs, None).map(Operand::Typed)
    }

    fn settle(
        &mut self,
        op: Operand,
        hint: Option<Ty>,
        ctx: Ctx,
        recs: &mut Records,
    ) -> Option<Expr> {
        match op {
            Operand::Typed(x) => Some(x),
            Operand::Variant(id) => self.name_expr(&id, ctx, recs, hint),
        }
    }

    /// Brings two operands to one type (an `int` widens to `float`).
    fn unify(&mut self, a: Expr, b: Expr, span: Span) -> Option<(Expr, Expr, Ty)> {
        match (a.ty, b.ty) {
            (x, y) if x == y => Some((a, b, x)),
            (Ty::Int, Ty::Float) => Some((widen(a), b, Ty::Float)),
            (Ty::Float, Ty::Int) => Some((a, widen(b), Ty::Float)),
            (x, y) => {
                let d = diag::incomparable(span, &self.ty_name(x), &self.ty_name(y));
                self.error(d);
                None
            }
        }
    }

    fn compare(
        &mut self,
        first: &ast::Expr,
        tails: &[ast::CmpTail],
        ctx: Ctx,
        recs: &mut Records,
        span: Span,
    ) -> Option<Expr> {
        if let Some(second) = tails.get(1) {
            let tail_span = match second {
                ast::CmpTail::Cmp(_, e) | ast::CmpTail::Between(e, _) => e.span,
                ast::CmpTail::In(_, s) => *s,
            };
            self.error(diag::chained_comparison(tail_span));
            return None;
        }
        let tail = tails.first()?;
        let left = self.operand(first, ctx, recs);
        match tail {
            ast::CmpTail::Cmp(op, rhs) => {
                let right = self.operand(rhs, ctx, recs);
                let (left, right) = (left?, right?);
                let (a, b) = match (left, right) {
                    (Operand::Typed(a), r) => {
                        let hint = Some(a.ty);
                        let b = self.settle(r, hint, ctx, recs)?;
                        (a, b)
                    }
                    (l, Operand::Typed(b)) => {
                        let hint = Some(b.ty);
                        (self.settle(l, hint, ctx, recs)?, b)
                    }
                    (l, r) => {
                        let a = self.settle(l, None, ctx, recs);
                        let b = self.settle(r, None, ctx, recs);
                        (a?, b?)
                    }
                };
                let (a, b, ty) = self.unify(a, b, span)?;
                let op = match op {
                    ast::CmpOp::Eq => CmpOp::Eq,
                    ast::CmpOp::Ne => CmpOp::Ne,
                    ast::CmpOp::Lt => CmpOp::Lt,
                    ast::CmpOp::Le => CmpOp::Le,
                    ast::CmpOp::Gt => CmpOp::Gt,
                    ast::CmpOp::Ge => CmpOp::Ge,
                };
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) && !ty.is_ordered() {
                    let sym = match op {
                        CmpOp::Lt => "<",
                        CmpOp::Le => "<=",
                        CmpOp::Gt => ">",
                        _ => ">=",
                    };
                    let d = diag::unordered_type(span, &self.ty_name(ty), sym);
                    self.error(d);
                    return None;
                }
                Some(Expr {
                    kind: ExprKind::Cmp(op, CmpKind::of(ty), Box::new(a), Box::new(b)),
                    ty: Ty::Bool,
                    span,
                })
            }
            ast::CmpTail::In(items, list_span) => {
                let x = self.settle(left?, None, ctx, recs)?;
                let mut values = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.const_value(item, x.ty) {
                        Some(v) => values.push(v),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                if values.is_empty() {
                    self.error(diag::empty_in_list(*list_span));
                }
                Some(Expr {
                    kind: ExprKind::In(CmpKind::of(x.ty), Box::new(x), values),
                    ty: Ty::Bool,
                    span,
                })
            }
            ast::CmpTail::Between(lo, hi) => {
                let x = self.settle(left?, None, ctx, recs)?;
                let lo = self.infer(lo, ctx, recs, Some(x.ty));
                let hi = self.infer(hi, ctx, recs, Some(x.ty));
                let (lo, hi) = (lo?, hi?);
                // One common type for all three (any float makes all floats).
                let ty = if [x.ty, lo.ty, hi.ty].contains(&Ty::Float)
                    && [x.ty, lo.ty, hi.ty].iter().all(|t| t.is_numeric())
                {
                    Ty::Float
                } else {
                    x.ty
                };
                let x = self.coerce(x, ty)?;
                let lo = self.coerce(lo, ty)?;
                let hi = self.coerce(hi, ty)?;
                if !ty.is_ordered() {
                    let d = diag::unordered_type(span, &self.ty_name(ty), "between");
                    self.error(d);
                    return None;
                }
                Some(Expr {
                    kind: ExprKind::Between(
                        CmpKind::of(ty),
                        Box::new(x),
                        Box::new(lo),
                        Box::new(hi),
                    ),
                    ty: Ty::Bool,
                    span,
                })
            }
        }
    }

    /// A constant of type `ty` in an `in` list: a literal, a negated literal or a variant.
    fn const_value(&mut self, e: &ast::Expr, ty: Ty) -> Option<Value> {
        let e = unparen(e);
        let (v, span) = match &e.kind {
            ast::ExprKind::Lit(l) => (self.literal_value(l, false, e.span)?, e.span),
            ast::ExprKind::Neg(inner) => match &unparen(inner).kind {
                ast::ExprKind::Lit(l) => (self.literal_value(l, true, e.span)?, e.span),
                _ => {
                    self.error(diag::list_item_not_constant(e.span));
                    return None;
                }
            },
            ast::ExprKind::Name(id) => match ty {
                Ty::Enum(en) => return self.variant_of(en, id),
                _ => {
                    self.error(diag::list_item_not_constant(e.span));
                    return None;
                }
            },
            _ => {
                self.error(diag::list_item_not_constant(e.span));
                return None;
            }
        };
        self.coerce_value(v, ty, span)
    }

    pub(crate) fn coerce_value(&mut self, v: Value, ty: Ty, span: Span) -> Option<Value> {
        match (v, ty) {
            (v, ty) if v.ty() == ty => Some(v),
            (Value::Int(i), Ty::Float) => Some(Value::Float(i as f64)),
            (v, ty) => {
                let d = diag::type_mismatch(span, &self.ty_name(ty), &self.ty_name(v.ty()));
                self.error(d);
                None
            }
        }
    }

    /// The index of variant `name` in enum `en`, through the name index (enums may be large).
    fn variant_index(&self, en: EnumId, name: &str) -> Option<u16> {
        self.variant_owners
            .get(name)?
            .iter()
            .find(|(e, _)| *e == en)
            .map(|&(_, i)| i)
    }

    pub(crate) fn variant_of(&mut self, en: EnumId, id: &ast::Ident) -> Option<Value> {
        match self.variant_index(en, &id.name) {
            Some(i) => Some(Value::Enum(en, i)),
            None => {
                let e = &self.enums[en.index()];
                let names: Vec<&str> = e.variants.iter().map(String::as_str).collect();
                let d = diag::unknown_variant(id.span, &id.name, &e.name, &names);
                self.error(d);
                None
            }
        }
    }

    fn name_expr(
        &mut self,
        id: &ast::Ident,
        ctx: Ctx,
        recs: &mut Records,
        hint: Option<Ty>,
    ) -> Option<Expr> {
        let span = id.span;
        if let Some(Ty::Enum(en)) = hint
            && let Some(i) = self.variant_index(en, &id.name)
        {
            return Some(Expr {
                kind: ExprKind::Const(Value::Enum(en, i)),
                ty: Ty::Enum(en),
                span,
            });
        }
        if let Some(&lid) = self.let_by_name.get(&id.name) {
            if !self.resolve_let(lid) {
                return None;
            }
            let (records, let_span) = match &self.lets[lid.index()] {
                Some(l) => (l.records, l.span),
                None => return None,
            };
            let missing = records.minus(ctx.allowed);
            if !missing.is_empty() {
                let record = missing.names().first().copied().unwrap_or("");
                self.error(diag::let_record_not_available(
                    span, &id.name, record, ctx.what, let_span,
                ));
                return None;
            }
            *recs = recs.union(records);
            return Some(Expr {
                kind: ExprKind::Let(lid),
                ty: Ty::Bool,
                span,
            });
        }
        match self.variant_owners.get(&id.name).map(Vec::as_slice) {
            Some([(en, i)]) => {
                return Some(Expr {
                    kind: ExprKind::Const(Value::Enum(*en, *i)),
                    ty: Ty::Enum(*en),
                    span,
                });
            }
            Some(owners) if owners.len() > 1 => {
                let names: Vec<String> = owners
                    .iter()
                    .map(|(e, _)| self.enums[e.index()].name.clone())
                    .collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                self.error(diag::ambiguous_variant(span, &id.name, &refs));
                return None;
            }
            _ => {}
        }
        let mut candidates: Vec<String> = self.let_by_name.keys().cloned().collect();
        candidates.extend(self.variant_owners.keys().cloned());
        if self.planes.iter().any(|p| p.name == id.name) || self.field_index.contains_key(&id.name)
        {
            candidates = vec![format!("device.{}", id.name)];
            let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
            let mut d = diag::unknown_name(span, &id.name, &refs);
            d.help = Some(format!(
                "fields are read through their record: did you mean `device.{}`?",
                id.name
            ));
            self.error(d);
            return None;
        }
        if let Some(Ty::Enum(en)) = hint {
            self.variant_of(en, id);
            return None;
        }
        let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
        let d = diag::unknown_name(span, &id.name, &refs);
        self.error(d);
        None
    }

    /// The type of `record.field` if it exists, without reporting anything.
    fn field_ty(&self, f: &ast::FieldRef) -> Option<Ty> {
        let name = f.field.name.as_str();
        let plane = || {
            self.planes
                .iter()
                .any(|p| p.name == name)
                .then_some(Ty::Version)
        };
        match f.record.name.as_str() {
            "device" => self
                .field_index
                .get(name)
                .map(|&i| self.fields[i.index()].ty)
                .or_else(plane),
            "now" => match name {
                "hour" => Some(Ty::Int),
                "weekday" => Some(Ty::Enum(self.weekday)),
                _ => None,
            },
            "release" => plane(),
            _ => RingField::from_name(name).map(RingField::ty),
        }
    }

    /// Resolves `record.field`: its reference, type and whether it may be missing.
    pub(crate) fn field_ref(
        &mut self,
        f: &ast::FieldRef,
        ctx: Ctx,
        recs: &mut Records,
    ) -> Option<(FieldRef, Ty, bool)> {
        let name = f.field.name.as_str();
        let found = match f.record.name.as_str() {
            "device" => {
                if let Some(&id) = self.field_index.get(name) {
                    let field = &self.fields[id.index()];
                    Some((FieldRef::Device(id), field.ty, field.optional))
                } else {
                    self.planes
                        .iter()
                        .position(|p| p.name == name)
                        .map(|p| (FieldRef::Plane(PlaneId(p as u32)), Ty::Version, false))
                }
            }
            "now" => match name {
                "hour" => Some((FieldRef::NowHour, Ty::Int, false)),
                "weekday" => Some((FieldRef::NowWeekday, Ty::Enum(self.weekday), false)),
                _ => None,
            },
            "release" => self
                .planes
                .iter()
                .position(|p| p.name == name)
                .map(|p| (FieldRef::Release(PlaneId(p as u32)), Ty::Version, true)),
            "ring" => RingField::from_name(name).map(|rf| (FieldRef::Ring(rf), rf.ty(), false)),
            "rollout" => {
                RingField::from_name(name).map(|rf| (FieldRef::Rollout(rf), rf.ty(), false))
            }
            other => {
                self.error(diag::unknown_record(f.record.span, other));
                return None;
            }
        };
        let Some((fr, ty, optional)) = found else {
            let candidates: Vec<String> = match f.record.name.as_str() {
                "device" => self
                    .fields
                    .iter()
                    .map(|x| x.name.clone())
                    .chain(self.planes.iter().map(|p| p.name.clone()))
                    .collect(),
                "now" => vec!["hour".into(), "weekday".into()],
                "release" => self.planes.iter().map(|p| p.name.clone()).collect(),
                _ => RingField::ALL
                    .iter()
                    .map(|r| r.name().to_string())
                    .collect(),
            };
            let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
            self.error(diag::unknown_field(
                f.field.span,
                &f.record.name,
                name,
                &refs,
            ));
            return None;
        };
        let record = Records::of(fr);
        if !ctx.allowed.contains(record) {
            let allowed: Vec<String> = ctx
                .allowed
                .names()
                .iter()
                .map(|n| format!("{n}.*"))
                .collect();
            let refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
            self.error(diag::record_not_available(
                f.record.span,
                &f.record.name,
                ctx.what,
                &refs,
            ));
            return None;
        }
        *recs = recs.union(record);
        Some((fr, ty, optional))
    }

    // -----------------------------------------------------------------------------------------
    // Literals

    /// The value of a literal, negated if `negated` (which `-9223372036854775808` needs).
    pub(crate) fn literal_value(
        &mut self,
        l: &ast::Literal,
        negated: bool,
        span: Span,
    ) -> Option<Value> {
        let text = l.text.replace('_', "");
        let v = match l.kind {
            LitKind::Int => {
                let signed = if negated { format!("-{text}") } else { text };
                match signed.parse::<i64>() {
                    Ok(i) => Value::Int(i),
                    Err(_) => {
                        self.error(diag::int_out_of_range(l.span, &l.text));
                        return None;
                    }
                }
            }
            LitKind::Float | LitKind::Percent => {
                let is_percent = l.kind == LitKind::Percent;
                let digits = text.trim_end_matches('%');
                let Ok(mut f) = digits.parse::<f64>() else {
                    self.error(diag::invalid_literal(
                        l.span,
                        "number",
                        &l.text,
                        "not a number",
                    ));
                    return None;
                };
                if !f.is_finite() {
                    self.error(diag::nan_literal(l.span));
                    return None;
                }
                if is_percent {
                    f /= 100.0;
                }
                Value::Float(if negated { -f } else { f })
            }
            LitKind::Duration => {
                let secs = self.duration_secs(l)?;
                Value::Duration(if negated { -secs } else { secs })
            }
            LitKind::Version => {
                if negated {
                    self.error(diag::bad_unary(span, "-", "version"));
                    return None;
                }
                Value::Version(self.version_literal(l)?)
            }
            LitKind::Bool => {
                if negated {
                    self.error(diag::bad_unary(span, "-", "bool"));
                    return None;
                }
                Value::Bool(l.text == "true")
            }
        };
        Some(v)
    }

    /// A duration literal, in seconds (an error for any other literal).
    pub(crate) fn duration_literal(&mut self, l: &ast::Literal) -> Option<i64> {
        if l.kind != LitKind::Duration {
            let found = match l.kind {
                LitKind::Int => "int",
                LitKind::Float | LitKind::Percent => "float",
                LitKind::Version => "version",
                _ => "bool",
            };
            let mut d = diag::type_mismatch(l.span, "duration", found);
            d.help = Some(
                "write a duration with its unit, e.g. `30s`, `15m`, `24h`, `7d` or `1h30m`".into(),
            );
            self.error(d);
            return None;
        }
        self.duration_secs(l)
    }

    fn duration_secs(&mut self, l: &ast::Literal) -> Option<i64> {
        const LIMIT: i64 = i32::MAX as i64;
        let mut total: i64 = 0;
        let mut last_rank = usize::MAX;
        let mut number: i64 = 0;
        let mut overflow = false;
        for c in l.text.chars() {
            if let Some(d) = c.to_digit(10) {
                number = number.saturating_mul(10).saturating_add(i64::from(d));
                continue;
            }
            let (rank, size) = match c {
                'd' => (0, 86_400),
                'h' => (1, 3_600),
                'm' => (2, 60),
                _ => (3, 1),
            };
            if last_rank != usize::MAX && rank <= last_rank {
                self.error(diag::duration_unit_order(l.span, &l.text));
                return None;
            }
            last_rank = rank;
            total = total.saturating_add(number.saturating_mul(size));
            overflow |= total > LIMIT;
            number = 0;
        }
        if overflow {
            self.error(diag::duration_out_of_range(l.span, &l.text));
            return None;
        }
        Some(total)
    }

    pub(crate) fn version_literal(&mut self, l: &ast::Literal) -> Option<Version> {
        let mut parts = [0u16; 3];
        for (i, (part, name)) in l.text[1..]
            .split('.')
            .zip(["major", "minor", "patch"])
            .enumerate()
        {
            match part.parse::<u32>() {
                Ok(n) if n <= 65_535 => parts[i] = n as u16,
                _ => {
                    self.error(diag::version_out_of_range(l.span, &l.text, name));
                    return None;
                }
            }
        }
        Some(Version {
            major: parts[0],
            minor: parts[1],
            patch: parts[2],
        })
    }

    // -----------------------------------------------------------------------------------------
    // Plane predicates (`depends`, `incompatible`)

    pub(crate) fn plane_predicate(&mut self, e: &ast::Expr) -> Option<PlanePredicate> {
        let mut plane = None;
        let set = self.version_set(e, &mut plane)?;
        let Some((plane, _)) = plane else {
            self.error(diag::not_a_version_predicate(e.span));
            return None;
        };
        Some(PlanePredicate {
            plane,
            set,
            text: self.text(e),
            span: e.span,
        })
    }

    fn version_set(
        &mut self,
        e: &ast::Expr,
        plane: &mut Option<(PlaneId, String)>,
    ) -> Option<VersionSet> {
        match &e.kind {
            ast::ExprKind::Paren(inner) => self.version_set(inner, plane),
            ast::ExprKind::Not(inner) => Some(self.version_set(inner, plane)?.complement()),
            ast::ExprKind::And(xs) | ast::ExprKind::Or(xs) => {
                let is_and = matches!(e.kind, ast::ExprKind::And(_));
                let sets: Vec<Option<VersionSet>> =
                    xs.iter().map(|x| self.version_set(x, plane)).collect();
                let mut sets = sets.into_iter().collect::<Option<Vec<_>>>()?.into_iter();
                let first = sets.next()?;
                if is_and {
                    Some(sets.fold(first, |acc, s| acc.intersect(&s)))
                } else {
                    // One union of everything: folding would sort the growing set once per operand.
                    let all: Vec<(u64, u64)> = std::iter::once(first)
                        .chain(sets)
                        .flat_map(|s| s.0)
                        .collect();
                    Some(VersionSet(all).union(&VersionSet::none()))
                }
            }
            ast::ExprKind::Compare(first, tails) if tails.len() == 1 => match &tails[0] {
                ast::CmpTail::Cmp(op, rhs) => {
                    let (op, version) = if self.is_plane_atom(first) {
                        self.plane_atom(first, plane)?;
                        (*op, self.version_operand(rhs)?)
                    } else {
                        self.plane_atom(rhs, plane)?;
                        let flipped = match op {
                            ast::CmpOp::Lt => ast::CmpOp::Gt,
                            ast::CmpOp::Le => ast::CmpOp::Ge,
                            ast::CmpOp::Gt => ast::CmpOp::Lt,
                            ast::CmpOp::Ge => ast::CmpOp::Le,
                            other => *other,
                        };
                        (flipped, self.version_operand(first)?)
                    };
                    let v = version.packed();
                    let set = match op {
                        ast::CmpOp::Eq => VersionSet(vec![(v, v)]),
                        ast::CmpOp::Ne => VersionSet(vec![(v, v)]).complement(),
                        ast::CmpOp::Lt => v
                            .checked_sub(1)
                            .map_or(VersionSet::none(), |hi| VersionSet(vec![(0, hi)])),
                        ast::CmpOp::Le => VersionSet(vec![(0, v)]),
                        ast::CmpOp::Gt => v
                            .checked_add(1)
                            .map_or(VersionSet::none(), |lo| VersionSet(vec![(lo, u64::MAX)])),
                        ast::CmpOp::Ge => VersionSet(vec![(v, u64::MAX)]),
                    };
                    Some(set)
                }
                ast::CmpTail::In(items, _) => {
                    self.plane_atom(first, plane)?;
                    let mut versions = Vec::with_capacity(items.len());
                    for item in items {
                        let v = self.version_operand(item)?.packed();
                        versions.push((v, v));
                    }
                    Some(VersionSet(versions).union(&VersionSet::none()))
                }
                ast::CmpTail::Between(lo, hi) => {
                    self.plane_atom(first, plane)?;
                    let lo = self.version_operand(lo)?.packed();
                    let hi = self.version_operand(hi)?.packed();
                    Some(if lo <= hi {
                        VersionSet(vec![(lo, hi)])
                    } else {
                        VersionSet::none()
                    })
                }
            },
            _ => {
                self.error(diag::not_a_version_predicate(e.span));
                None
            }
        }
    }

    fn is_plane_atom(&self, e: &ast::Expr) -> bool {
        match &unparen(e).kind {
            ast::ExprKind::Name(_) => true,
            ast::ExprKind::Field(f) => f.record.name == "device",
            _ => false,
        }
    }

    fn plane_atom(&mut self, e: &ast::Expr, plane: &mut Option<(PlaneId, String)>) -> Option<()> {
        let e = unparen(e);
        let id = match &e.kind {
            ast::ExprKind::Name(id) => id,
            ast::ExprKind::Field(f) if f.record.name == "device" => &f.field,
            _ => {
                self.error(diag::not_a_version_predicate(e.span));
                return None;
            }
        };
        let p = self.plane_name(id)?;
        match plane {
            Some((first, first_name)) if *first != p => {
                let first_name = first_name.clone();
                self.error(diag::mixed_planes(id.span, &first_name, &id.name));
                None
            }
            Some(_) => Some(()),
            None => {
                *plane = Some((p, id.name.clone()));
                Some(())
            }
        }
    }

    fn version_operand(&mut self, e: &ast::Expr) -> Option<Version> {
        match &unparen(e).kind {
            ast::ExprKind::Lit(l) if l.kind == LitKind::Version => self.version_literal(l),
            _ => {
                self.error(diag::not_a_version_predicate(e.span));
                None
            }
        }
    }
}

/// `int` -> `float`, folded for constants.
fn widen(x: Expr) -> Expr {
    let span = x.span;
    match x.kind {
        ExprKind::Const(Value::Int(i)) => Expr {
            kind: ExprKind::Const(Value::Float(i as f64)),
            ty: Ty::Float,
            span,
        },
        _ => Expr {
            kind: ExprKind::Widen(Box::new(x)),
            ty: Ty::Float,
            span,
        },
    }
}
