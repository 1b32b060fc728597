//! The graph of planes: an edge from the plane a `depends` constraint relies on to the plane it
//! constrains (`depends model >= v2 on firmware >= v1.4` is firmware -> model).
//!
//! In: the typed package. Out: the graph (petgraph), a diagnostic for every cycle naming each
//! constraint on it, and a topological order of the planes (dependencies first) for reviews. Devices
//! never need this graph: the artifact's constraint table is enough to compute install orders and
//! rollback closures (runtime `decision::plan`).

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use fleetgate_lang::diagnostics::Diagnostic;
use fleetgate_lang::typed::{Package, PlaneId};

use crate::diagnostics as diag;

pub struct PlaneGraph {
    pub graph: DiGraph<PlaneId, usize>,
    nodes: Vec<NodeIndex>,
}

impl PlaneGraph {
    pub fn new(pkg: &Package) -> PlaneGraph {
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..pkg.planes.len())
            .map(|p| graph.add_node(PlaneId(p as u32)))
            .collect();
        for (i, d) in pkg.depends.iter().enumerate() {
            graph.add_edge(
                nodes[d.dependency.plane.index()],
                nodes[d.dependent.plane.index()],
                i,
            );
        }
        PlaneGraph { graph, nodes }
    }

    /// Planes with dependencies before their dependents (petgraph's order among independent planes);
    /// `None` on a cycle.
    pub fn order(&self) -> Option<Vec<PlaneId>> {
        toposort(&self.graph, None)
            .ok()
            .map(|o| o.into_iter().map(|n| self.graph[n]).collect())
    }

    /// The `depends` constraints (by index) whose dependency is `plane`.
    pub fn dependents(&self, plane: PlaneId) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .graph
            .edges(self.nodes[plane.index()])
            .map(|e| *e.weight())
            .collect();
        out.sort_unstable();
        out
    }
}

/// One diagnostic per cycle of the plane graph.
pub fn cycles(pkg: &Package) -> Vec<Diagnostic> {
    let g = PlaneGraph::new(pkg);
    let mut out = Vec::new();
    for scc in tarjan_scc(&g.graph) {
        let in_cycle = |n: NodeIndex| scc.contains(&n);
        let mut constraints: Vec<usize> = g
            .graph
            .edge_indices()
            .filter(|&e| {
                g.graph
                    .edge_endpoints(e)
                    .is_some_and(|(a, b)| in_cycle(a) && in_cycle(b))
            })
            .map(|e| g.graph[e])
            .collect();
        if constraints.is_empty() {
            continue;
        }
        constraints.sort_unstable();
        // Walk the cycle along its edges, from its first plane, taking the lowest successor each time.
        let start = scc
            .iter()
            .copied()
            .min_by_key(|&n| g.graph[n])
            .unwrap_or(scc[0]);
        let mut path = vec![start];
        let mut at = start;
        loop {
            let next = g
                .graph
                .neighbors(at)
                .filter(|&n| in_cycle(n))
                .min_by_key(|&n| g.graph[n]);
            match next {
                Some(n) if !path.contains(&n) => {
                    path.push(n);
                    at = n;
                }
                _ => break,
            }
        }
        path.push(start);
        let names: Vec<String> = path
            .iter()
            .map(|&n| pkg.plane(g.graph[n]).name.clone())
            .collect();
        let spans: Vec<_> = constraints
            .iter()
            .map(|&i| {
                let d = &pkg.depends[i];
                (
                    d.span,
                    format!("depends {} on {}", d.dependent.text, d.dependency.text),
                )
            })
            .collect();
        out.push(diag::dependency_cycle(spans[0].0, &names, &spans));
    }
    out
}
