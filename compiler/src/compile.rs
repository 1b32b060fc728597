//! Compiling a typed package into a verified artifact and its sidecar.
//!
//! In: a typed, error-free package and its sources (for the sidecar's locations). Out: `Compiled`: the
//! artifact (also as bytes, and verified by the runtime's own verifier, so a compiler bug cannot ship an
//! artifact a device would reject), the sidecar, the map from typed clause ids to artifact clause
//! indices, and the IR (for tests and metrics).
//!
//! Artifact clause order: rail clauses (rail by rail), health clauses, one clause per `incompatible`
//! condition, one per ring filter, then each gate's clauses with gates ordered by their `from` ring.

use fleetgate_lang::Sources;
use fleetgate_lang::diagnostics::Diagnostic;
use fleetgate_lang::typed::{self, ClauseId, GateId, Package, Ty};
use fleetgate_runtime::artifact::{self, Artifact, FunctionKind, SlotType};
use fleetgate_runtime::value::PlaneSet;
use fleetgate_runtime::{Policy, verify};

use crate::diagnostics as diag;
use crate::emit::{self, Consts, EmitError};
use crate::ir::{self, Block, Lowerer};
use crate::layout::{self, Layout};
use crate::sidecar::{ClauseInfo, Sidecar, SlotInfo};

/// Where each typed thing landed in the artifact.
#[derive(Clone, Debug, Default)]
pub struct ClauseMap {
    /// Artifact clause index of each typed clause.
    pub clauses: Vec<u16>,
    /// Artifact clause of each `incompatible` condition, in package order.
    pub incompatible: Vec<u16>,
    /// Artifact clause of each ring's filter.
    pub ring_filters: Vec<Option<u16>>,
    /// Artifact gate index of each typed gate.
    pub gates: Vec<u8>,
}

pub struct Compiled {
    pub artifact: Artifact,
    pub bytes: Vec<u8>,
    pub policy: Policy,
    pub sidecar: Sidecar,
    pub map: ClauseMap,
    pub layout: Layout,
    pub functions: Vec<ir::Function>,
}

impl Compiled {
    pub fn clause(&self, id: ClauseId) -> fleetgate_runtime::ClauseId {
        fleetgate_runtime::ClauseId(self.map.clauses[id.index()])
    }
}

/// Builds up the clause table and the sidecar's clause list together.
struct Table<'a> {
    pkg: &'a Package,
    sources: &'a Sources,
    clauses: Vec<artifact::Clause>,
    infos: Vec<ClauseInfo>,
    reasons: Vec<String>,
    counters: u8,
}

impl Table<'_> {
    fn reason(&mut self, text: &str) -> u16 {
        match self.reasons.iter().position(|r| r == text) {
            Some(i) => i as u16,
            None => {
                self.reasons.push(text.to_string());
                (self.reasons.len() - 1) as u16
            }
        }
    }

    fn push(
        &mut self,
        clause: artifact::Clause,
        kind: &str,
        rule: String,
        reason: &str,
        span: fleetgate_lang::Span,
    ) -> u16 {
        let loc = self.sources.location(span);
        let source = self
            .sources
            .get(span.file)
            .line_text(loc.line)
            .trim()
            .to_string();
        let mut clause = clause;
        clause.reason = Some(self.reason(reason));
        self.infos.push(ClauseInfo {
            kind: kind.to_string(),
            rule,
            reason: reason.to_string(),
            file: loc.file,
            line: loc.line,
            column: loc.column,
            source,
        });
        self.clauses.push(clause);
        (self.clauses.len() - 1) as u16
    }

    fn typed_clause(&mut self, id: ClauseId, rule_index: u16) -> u16 {
        let c = self.pkg.clause(id);
        let (kind, arg, planes) = match &c.kind {
            typed::ClauseKind::Deny => (artifact::ClauseKind::Deny, 0, PlaneSet::EMPTY),
            typed::ClauseKind::Defer { secs } => {
                (artifact::ClauseKind::Defer, *secs as u64, PlaneSet::EMPTY)
            }
            typed::ClauseKind::Rollback { planes } => {
                let mut set = PlaneSet::EMPTY;
                for p in planes {
                    set.insert(p.index() as u8);
                }
                (artifact::ClauseKind::Rollback, 0, set)
            }
            typed::ClauseKind::Require => (artifact::ClauseKind::Require, 0, PlaneSet::EMPTY),
            typed::ClauseKind::Abort => (artifact::ClauseKind::Abort, 0, PlaneSet::EMPTY),
        };
        let mut clause = artifact::Clause::new(kind, rule_index);
        clause.arg = arg;
        clause.planes = planes;
        // `for 1 checks` is a plain condition: only longer runs need a counter.
        if let Some(n) = c.checks.filter(|&n| n > 1) {
            clause.checks = n;
            clause.counter = self.counters;
            self.counters += 1;
        }
        clause.per_slot = c.per.map(|f| f.index() as u16);
        let rule = self.pkg.rule_name(c.rule);
        let reason = c.reason.clone();
        self.push(clause, c.kind.keyword(), rule, &reason, c.span)
    }
}

pub fn compile(pkg: &Package, sources: &Sources) -> Result<Compiled, Vec<Diagnostic>> {
    let cycles = crate::deps::cycles(pkg);
    if !cycles.is_empty() {
        return Err(cycles);
    }
    let layout = Layout::of(pkg);
    let mut table = Table {
        pkg,
        sources,
        clauses: Vec::new(),
        infos: Vec::new(),
        reasons: Vec::new(),
        counters: 0,
    };
    let mut map = ClauseMap {
        clauses: vec![0; pkg.clauses.len()],
        ..ClauseMap::default()
    };
    let mut functions = Vec::new();

    // Rails and health rules.
    for (kind, rules) in [
        (FunctionKind::Rails, &pkg.rails),
        (FunctionKind::Health, &pkg.healths),
    ] {
        let first = table.clauses.len() as u16;
        let mut lower = Lowerer::new(pkg);
        let mut blocks = Vec::new();
        for (r, rule) in rules.iter().enumerate() {
            let scope = rule.scope.as_ref().map(|s| lower.expr(s));
            let mut clauses = Vec::new();
            for &id in &rule.clauses {
                let index = table.typed_clause(id, r as u16);
                map.clauses[id.index()] = index;
                let cond = lower.condition(pkg.clause(id).cond.as_ref());
                clauses.push((index, cond));
            }
            blocks.push(Block { scope, clauses });
        }
        let n = table.clauses.len() as u16 - first;
        functions.push(ir::Function {
            kind,
            graph: lower.graph,
            blocks,
            first_clause: first,
            n_clauses: n,
        });
    }

    // `incompatible` conditions.
    let first = table.clauses.len() as u16;
    let mut lower = Lowerer::new(pkg);
    let mut block = Block {
        scope: None,
        clauses: Vec::new(),
    };
    let mut constraints = Vec::new();
    for d in &pkg.depends {
        constraints.push(artifact::Constraint::Depends {
            a_plane: d.dependent.plane.index() as u8,
            a: artifact::VersionSet(d.dependent.set.0.clone()),
            b_plane: d.dependency.plane.index() as u8,
            b: artifact::VersionSet(d.dependency.set.0.clone()),
        });
    }
    for inc in &pkg.incompatibles {
        let rule = constraints.len() as u16;
        let index = table.push(
            artifact::Clause::new(artifact::ClauseKind::Incompatible, rule),
            "incompatible",
            format!("incompatible {}", inc.versions.text),
            &inc.reason,
            inc.span,
        );
        map.incompatible.push(index);
        constraints.push(artifact::Constraint::Incompatible {
            plane: inc.versions.plane.index() as u8,
            set: artifact::VersionSet(inc.versions.set.0.clone()),
            clause: index,
        });
        block.clauses.push((index, lower.expr(&inc.cond)));
    }
    let n = table.clauses.len() as u16 - first;
    functions.push(ir::Function {
        kind: FunctionKind::Constraints,
        graph: lower.graph,
        blocks: vec![block],
        first_clause: first,
        n_clauses: n,
    });

    // Ring filters.
    let first = table.clauses.len() as u16;
    let mut lower = Lowerer::new(pkg);
    let mut block = Block {
        scope: None,
        clauses: Vec::new(),
    };
    let mut rings = Vec::new();
    if let Some(rollout) = &pkg.rollout {
        for (r, ring) in rollout.rings.iter().enumerate() {
            let filter = ring.filter.as_ref().map(|f| {
                let index = table.push(
                    artifact::Clause::new(artifact::ClauseKind::RingFilter, r as u16),
                    "ring filter",
                    format!("ring {}", ring.name),
                    &format!("ring {} filter", ring.name),
                    f.span,
                );
                block.clauses.push((index, lower.expr(f)));
                index
            });
            map.ring_filters.push(filter);
            rings.push(artifact::Ring {
                share_ppm: ring.share_ppm,
                filter,
            });
        }
    }
    let n = table.clauses.len() as u16 - first;
    functions.push(ir::Function {
        kind: FunctionKind::Rings,
        graph: lower.graph,
        blocks: vec![block],
        first_clause: first,
        n_clauses: n,
    });

    // Gates, ordered by the ring they leave.
    let mut order: Vec<GateId> = (0..pkg.gates.len()).map(|g| GateId(g as u32)).collect();
    order.sort_by_key(|g| pkg.gates[g.index()].from);
    map.gates = vec![0; pkg.gates.len()];
    let mut gates = Vec::new();
    for (a, &g) in order.iter().enumerate() {
        map.gates[g.index()] = a as u8;
        let gate = &pkg.gates[g.index()];
        let first = table.clauses.len() as u16;
        let mut lower = Lowerer::new(pkg);
        let mut block = Block {
            scope: None,
            clauses: Vec::new(),
        };
        for &id in &gate.clauses {
            let index = table.typed_clause(id, a as u16);
            map.clauses[id.index()] = index;
            block
                .clauses
                .push((index, lower.condition(pkg.clause(id).cond.as_ref())));
        }
        let n = table.clauses.len() as u16 - first;
        let function = (functions.len()) as u8;
        functions.push(ir::Function {
            kind: FunctionKind::Gate(a as u8),
            graph: lower.graph,
            blocks: vec![block],
            first_clause: first,
            n_clauses: n,
        });
        gates.push(artifact::Gate {
            from: gate.from.index() as u8,
            to: gate.to.index() as u8,
            soak: gate.soak as u32,
            function,
        });
    }

    // Code.
    let mut consts = Consts::default();
    let mut code = Vec::with_capacity(functions.len());
    let mut errors = Vec::new();
    for f in &functions {
        match emit::function(f, &mut consts) {
            Ok(func) => code.push(func),
            Err(e) => errors.push(emit_error(pkg, &map, &table, e)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let (slots, optional) = layout::device_slot_types(pkg);
    let rollout = match &pkg.rollout {
        Some(r) => artifact::Rollout {
            check_every: r.check_every as u32,
            verify_for: r.verify_for as u32,
            rate: r.rate.map(|(count, per)| (count, per as u32)),
            in_flight: r.in_flight,
            retries: r.attempts,
            rings,
            gates,
        },
        None => artifact::Rollout::default(),
    };
    let artifact = Artifact {
        flags: 0,
        schema_hash: layout::schema_hash(pkg),
        serial: 0,
        slots,
        optional,
        n_planes: pkg.planes.len() as u8,
        n_counters: table.counters,
        consts: consts.values,
        clauses: table.clauses,
        constraints,
        rollout,
        functions: code,
        signature: None,
    };
    let bytes = artifact.encode();
    let policy = match verify(&bytes) {
        Ok(p) => p,
        // A size limit of devices, not a compiler bug (docs/security.md).
        Err(artifact::ArtifactError::TooLarge { len, max }) => {
            return Err(vec![diag::artifact_too_large(pkg_span(pkg), len, max)]);
        }
        Err(e) => return Err(vec![diag::internal(pkg_span(pkg), &e.to_string())]),
    };
    let sidecar = sidecar(pkg, &artifact, table.infos, table.reasons);
    Ok(Compiled {
        artifact,
        bytes,
        policy,
        sidecar,
        map,
        layout,
        functions,
    })
}

fn pkg_span(pkg: &Package) -> fleetgate_lang::Span {
    pkg.fields.first().map(|f| f.span).unwrap_or_default()
}

fn emit_error(pkg: &Package, map: &ClauseMap, _table: &Table<'_>, e: EmitError) -> Diagnostic {
    match e {
        EmitError::StackTooDeep { clause } => {
            let span = map
                .clauses
                .iter()
                .position(|&c| c == clause)
                .map(|i| pkg.clauses[i].span)
                .unwrap_or_else(|| pkg_span(pkg));
            diag::stack_too_deep(span, artifact::MAX_STACK)
        }
        EmitError::TooManyConstants => diag::too_many_constants(pkg_span(pkg)),
        EmitError::CodeTooLarge => diag::code_too_large(pkg_span(pkg)),
    }
}

fn sidecar(
    pkg: &Package,
    artifact: &Artifact,
    clauses: Vec<ClauseInfo>,
    reasons: Vec<String>,
) -> Sidecar {
    let layout = Layout::of(pkg);
    let slots = (0..layout.device_slots())
        .filter_map(|s| layout.device_field(s))
        .map(|f| {
            let (ty, optional) = layout::field_type(pkg, f);
            let percent = matches!(f, typed::FieldRef::Device(id) if pkg.field(id).percent);
            SlotInfo {
                name: layout::field_name(pkg, f),
                ty: if percent {
                    "percent".into()
                } else {
                    pkg.type_name(ty)
                },
                optional,
                variants: match ty {
                    Ty::Enum(e) => pkg.enum_(e).variants.clone(),
                    _ => Vec::new(),
                },
            }
        })
        .collect();
    let rings: Vec<String> = pkg
        .rollout
        .as_ref()
        .map(|r| r.rings.iter().map(|x| x.name.clone()).collect())
        .unwrap_or_default();
    let gates = artifact
        .rollout
        .gates
        .iter()
        .map(|g| {
            format!(
                "{} -> {}",
                rings[usize::from(g.from)],
                rings[usize::from(g.to)]
            )
        })
        .collect();
    Sidecar {
        format: 1,
        schema_hash: format!("{:016x}", artifact.schema_hash),
        slots,
        planes: pkg.planes.iter().map(|p| p.name.clone()).collect(),
        rings,
        gates,
        rails: pkg.rails.iter().map(|r| r.name.clone()).collect(),
        healths: pkg.healths.iter().map(|r| r.name.clone()).collect(),
        reasons,
        clauses,
    }
}

/// The slot type of a typed field, for tools that build records.
pub fn slot_type_of(pkg: &Package, field: typed::FieldRef) -> SlotType {
    layout::slot_type(pkg, layout::field_type(pkg, field).0)
}
