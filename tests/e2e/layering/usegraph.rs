//! The real use graph of a crate, read from its sources with `syn`: the module tree (from the
//! crate root through `mod x;` and inline `mod x { … }`), every `use` tree (grouped and nested
//! braces, `self`/`super`/`crate`, renames, globs), every path written out in code or types
//! (`crate::app::x::y(..)`, `super::super::Foo`) and in macro bodies (`format!("{}",
//! crate::x::y)`), each resolved to the module it lands in, through `pub use` re-exports, and
//! then to that module's file. What the layering tests (`tests/e2e/layering.rs`) check.
//!
//! Uses `syn` (a dev-dependency) and std only; never the crates it reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// One place a crate refers to something: where (file, the module it is written in) and
/// what (the path as written, made absolute: `crate::a::b::C`, or `ratatui::…` for another
/// crate).
#[derive(Debug, Clone)]
pub struct Ref {
    pub file: PathBuf,
    /// The absolute path; the first segment is `crate` or another crate's name.
    pub path: Vec<String>,
}

/// A crate's modules, files and references.
pub struct Crate {
    /// The crate's `src` directory (paths below are relative to it).
    pub src: PathBuf,
    /// Module path (`""` for the root, `a::b`) → the file it is written in.
    pub modules: BTreeMap<String, PathBuf>,
    /// Module path → names re-exported there (`pub use`) → where they point (absolute).
    reexports: BTreeMap<String, Vec<(String, Vec<String>)>>,
    /// Module path → glob re-exports (`pub use x::*`) → the module they point to.
    globs: BTreeMap<String, Vec<Vec<String>>>,
    /// Module path → the names of the items defined in it (types, functions, constants, …).
    items: BTreeMap<String, BTreeSet<String>>,
    /// Every reference, in file order.
    pub refs: Vec<Ref>,
}

/// A `use` tree flattened: the absolute path and the name it brings in (`None` for a glob).
struct Import {
    path: Vec<String>,
    name: Option<String>,
    public: bool,
}

impl Crate {
    /// Reads the crate whose root file is `root` (`src/lib.rs`, `src/main.rs`).
    pub fn load(root: &Path) -> Crate {
        let src = root
            .parent()
            .expect("the root file is in a directory")
            .to_path_buf();
        let mut c = Crate {
            src,
            modules: BTreeMap::new(),
            reexports: BTreeMap::new(),
            globs: BTreeMap::new(),
            items: BTreeMap::new(),
            refs: Vec::new(),
        };
        // Pass 1: the module tree (so that pass 2 can tell a module path from an item path).
        let mut files = Vec::new();
        c.walk_file(
            root,
            String::new(),
            root.parent().unwrap().to_path_buf(),
            &mut files,
        );
        // Pass 2: references in each file, resolved against the tree.
        for (file, module, ast) in &files {
            let mut v = RefCollector {
                krate: &c,
                file: file.clone(),
                module: vec![module.clone()],
                found: Vec::new(),
                reexports: Vec::new(),
                globs: Vec::new(),
            };
            v.visit_file(ast);
            let RefCollector {
                found,
                reexports,
                globs,
                ..
            } = v;
            c.refs.extend(found);
            for (m, name, path) in reexports {
                c.reexports.entry(m).or_default().push((name, path));
            }
            for (m, path) in globs {
                c.globs.entry(m).or_default().push(path);
            }
        }
        c
    }

    /// Registers the modules of `file` (module `module`; child files of its modules live in
    /// `dir`) and queues the file for pass 2.
    fn walk_file(
        &mut self,
        file: &Path,
        module: String,
        dir: PathBuf,
        files: &mut Vec<(PathBuf, String, syn::File)>,
    ) {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let ast = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("cannot parse {}: {e}", file.display()));
        self.modules.insert(module.clone(), file.to_path_buf());
        let items = ast.items.clone();
        files.push((file.to_path_buf(), module.clone(), ast));
        self.walk_items(file, &module, &dir, &items, files);
    }

    fn walk_items(
        &mut self,
        file: &Path,
        module: &str,
        dir: &Path,
        items: &[syn::Item],
        files: &mut Vec<(PathBuf, String, syn::File)>,
    ) {
        for item in items {
            let defined = match item {
                syn::Item::Struct(i) => Some(&i.ident),
                syn::Item::Enum(i) => Some(&i.ident),
                syn::Item::Fn(i) => Some(&i.sig.ident),
                syn::Item::Const(i) => Some(&i.ident),
                syn::Item::Static(i) => Some(&i.ident),
                syn::Item::Type(i) => Some(&i.ident),
                syn::Item::Trait(i) => Some(&i.ident),
                syn::Item::Union(i) => Some(&i.ident),
                _ => None,
            };
            if let Some(name) = defined {
                self.items
                    .entry(module.to_string())
                    .or_default()
                    .insert(name.to_string());
            }
            let syn::Item::Mod(m) = item else { continue };
            let name = m.ident.to_string();
            let child = join(module, &name);
            match &m.content {
                Some((_, inner)) => {
                    // Inline: same file; its `mod y;` children would live in dir/name/.
                    self.modules.insert(child.clone(), file.to_path_buf());
                    self.walk_items(file, &child, &dir.join(&name), inner, files);
                }
                None => {
                    let single = dir.join(format!("{name}.rs"));
                    let nested = dir.join(&name).join("mod.rs");
                    let path = if single.exists() { single } else { nested };
                    assert!(
                        path.exists(),
                        "{}: `mod {name};` has no file",
                        file.display()
                    );
                    self.walk_file(&path, child, dir.join(&name), files);
                }
            }
        }
    }

    /// The module an absolute path (`crate::a::b::Item`) lands in, following re-exports;
    /// `None` for another crate's path.
    pub fn target(&self, path: &[String]) -> Option<String> {
        self.target_depth(path, 0)
    }

    fn target_depth(&self, path: &[String], depth: usize) -> Option<String> {
        if path.first().map(String::as_str) != Some("crate") || depth > 16 {
            return None;
        }
        let mut cur = String::new();
        for (i, seg) in path.iter().enumerate().skip(1) {
            let next = join(&cur, seg);
            if self.modules.contains_key(&next) {
                cur = next;
                continue;
            }
            // A name re-exported here: continue where it points.
            if let Some((_, to)) = self
                .reexports
                .get(&cur)
                .and_then(|r| r.iter().find(|(n, _)| n == seg))
            {
                let mut rest = to.clone();
                rest.extend(path[i + 1..].iter().cloned());
                return self.target_depth(&rest, depth + 1).or(Some(cur));
            }
            // A name a glob re-export brings in: the first glob target that has it.
            for g in self.globs.get(&cur).into_iter().flatten() {
                let Some(gm) = self.target_depth(g, depth + 1) else {
                    continue;
                };
                if self.defines(&gm, seg) {
                    let mut rest = g.clone();
                    rest.extend(path[i..].iter().cloned());
                    return self.target_depth(&rest, depth + 1).or(Some(gm));
                }
            }
            break;
        }
        Some(cur)
    }

    /// Whether `module` has an item, a child module or a re-export called `name` (for glob
    /// lookups).
    fn defines(&self, module: &str, name: &str) -> bool {
        self.modules.contains_key(&join(module, name))
            || self.items.get(module).is_some_and(|i| i.contains(name))
            || self
                .reexports
                .get(module)
                .is_some_and(|r| r.iter().any(|(n, _)| n == name))
    }

    /// The file a module is written in, relative to `src`.
    pub fn file_of(&self, module: &str) -> PathBuf {
        self.rel(&self.modules[module])
    }

    /// `file` relative to `src`.
    pub fn rel(&self, file: &Path) -> PathBuf {
        file.strip_prefix(&self.src).unwrap_or(file).to_path_buf()
    }

    /// File-level edges: (from file, to file) → one path that makes it (for messages). Edges
    /// within a file are left out.
    pub fn file_edges(&self) -> BTreeMap<(PathBuf, PathBuf), String> {
        let mut edges = BTreeMap::new();
        for r in &self.refs {
            let Some(m) = self.target(&r.path) else {
                continue;
            };
            let from = self.rel(&r.file);
            let to = self.file_of(&m);
            if from != to {
                edges.entry((from, to)).or_insert_with(|| r.path.join("::"));
            }
        }
        edges
    }
}

fn join(module: &str, name: &str) -> String {
    if module.is_empty() {
        name.to_string()
    } else {
        format!("{module}::{name}")
    }
}

fn split(module: &str) -> Vec<String> {
    if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_string).collect()
    }
}

/// Pass 2: walks one file's syntax tree, keeping the module the walk is in.
struct RefCollector<'a> {
    krate: &'a Crate,
    file: PathBuf,
    /// The module stack (inline modules push).
    module: Vec<String>,
    found: Vec<Ref>,
    /// (module, name, absolute path) of each `pub use`.
    reexports: Vec<(String, String, Vec<String>)>,
    /// (module, absolute path) of each `pub use …::*`.
    globs: Vec<(String, Vec<String>)>,
}

impl RefCollector<'_> {
    fn here(&self) -> &str {
        self.module.last().map(String::as_str).unwrap_or("")
    }

    /// Makes a path as written in module `here` absolute: `crate::…` for this crate, the
    /// crate's name first for another crate. `None` for a path that starts with a local name
    /// (a type, a variable, a generic, a prelude item, something a `use` brought in — that
    /// `use` is recorded itself).
    fn absolute(&self, segs: &[String]) -> Option<Vec<String>> {
        let first = segs.first()?;
        let here = split(self.here());
        let out = match first.as_str() {
            "crate" => segs.to_vec(),
            "self" => {
                let mut p = vec!["crate".to_string()];
                p.extend(here);
                p.extend(segs[1..].iter().cloned());
                p
            }
            "super" => {
                let mut base = here;
                let mut i = 0;
                while segs.get(i).map(String::as_str) == Some("super") {
                    base.pop()?;
                    i += 1;
                }
                let mut p = vec!["crate".to_string()];
                p.extend(base);
                p.extend(segs[i..].iter().cloned());
                p
            }
            "Self" => return None,
            name => {
                // A child module of this one (2018 paths), or another crate.
                let child = join(self.here(), name);
                if self.krate.modules.contains_key(&child) {
                    let mut p = vec!["crate".to_string()];
                    p.extend(split(&child));
                    p.extend(segs[1..].iter().cloned());
                    p
                } else if segs.len() > 1 && name.chars().next().is_some_and(char::is_lowercase) {
                    segs.to_vec()
                } else {
                    return None;
                }
            }
        };
        Some(out)
    }

    fn record(&mut self, segs: Vec<String>) {
        if let Some(path) = self.absolute(&segs) {
            self.found.push(Ref {
                file: self.file.clone(),
                path,
            });
        }
    }

    fn flatten(
        &self,
        tree: &syn::UseTree,
        prefix: &mut Vec<String>,
        public: bool,
        out: &mut Vec<Import>,
    ) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.flatten(&p.tree, prefix, public, out);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                let mut path = prefix.clone();
                // `use a::b::{self}` names `a::b`.
                let bound = if name == "self" {
                    prefix.last().cloned()
                } else {
                    path.push(name.clone());
                    Some(name)
                };
                out.push(Import {
                    path,
                    name: bound,
                    public,
                });
            }
            syn::UseTree::Rename(r) => {
                let mut path = prefix.clone();
                if r.ident != "self" {
                    path.push(r.ident.to_string());
                }
                out.push(Import {
                    path,
                    name: Some(r.rename.to_string()),
                    public,
                });
            }
            syn::UseTree::Glob(_) => out.push(Import {
                path: prefix.clone(),
                name: None,
                public,
            }),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.flatten(t, prefix, public, out);
                }
            }
        }
    }

    /// Paths written inside a macro's tokens: `crate::a::b`, `super::x`, `self::y`.
    fn scan_tokens(&mut self, tokens: proc_macro2::TokenStream) {
        use proc_macro2::TokenTree;
        let tts: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tts.len() {
            if let TokenTree::Group(g) = &tts[i] {
                self.scan_tokens(g.stream());
                i += 1;
                continue;
            }
            let TokenTree::Ident(first) = &tts[i] else {
                i += 1;
                continue;
            };
            // Collect ident (:: ident)*
            let mut segs = vec![first.to_string()];
            let mut j = i + 1;
            while let (
                Some(TokenTree::Punct(a)),
                Some(TokenTree::Punct(b)),
                Some(TokenTree::Ident(id)),
            ) = (tts.get(j), tts.get(j + 1), tts.get(j + 2))
            {
                if a.as_char() != ':' || b.as_char() != ':' {
                    break;
                }
                segs.push(id.to_string());
                j += 3;
            }
            // This crate's paths, and the UI crates' (the layering rules name them).
            let wanted = ["crate", "super", "self", "ratatui", "crossterm"];
            if segs.len() > 1 && wanted.contains(&segs[0].as_str()) {
                self.record(segs);
            }
            i = j.max(i + 1);
        }
    }
}

impl<'ast> Visit<'ast> for RefCollector<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_some() {
            let child = join(self.here(), &m.ident.to_string());
            self.module.push(child);
            syn::visit::visit_item_mod(self, m);
            self.module.pop();
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let public = !matches!(u.vis, syn::Visibility::Inherited);
        let mut imports = Vec::new();
        let mut prefix = Vec::new();
        if u.leading_colon.is_some() {
            prefix.push(String::new());
        }
        self.flatten(&u.tree, &mut prefix, public, &mut imports);
        for imp in imports {
            let segs: Vec<String> = imp.path.iter().filter(|s| !s.is_empty()).cloned().collect();
            let Some(abs) = self.absolute(&segs).or_else(|| {
                // `use x;` of another crate (a single segment).
                (segs.len() == 1
                    && !self
                        .krate
                        .modules
                        .contains_key(&join(self.here(), &segs[0])))
                .then(|| segs.clone())
            }) else {
                continue;
            };
            if imp.public && abs[0] == "crate" {
                match &imp.name {
                    Some(n) => {
                        self.reexports
                            .push((self.here().to_string(), n.clone(), abs.clone()))
                    }
                    None => self.globs.push((self.here().to_string(), abs.clone())),
                }
            }
            self.found.push(Ref {
                file: self.file.clone(),
                path: abs,
            });
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if p.leading_colon.is_none() && segs.len() > 1 {
            self.record(segs);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.scan_tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }
}

/// The strongly connected components of a directed graph with more than one node (the
/// cycles), each sorted, in a stable order (Tarjan's algorithm).
pub fn cycles<N: Ord + Clone>(edges: &BTreeSet<(N, N)>) -> Vec<Vec<N>> {
    let nodes: BTreeSet<N> = edges
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let nodes: Vec<N> = nodes.into_iter().collect();
    let index_of = |n: &N| nodes.binary_search(n).expect("a node of the graph");
    let mut adj = vec![Vec::new(); nodes.len()];
    for (a, b) in edges {
        adj[index_of(a)].push(index_of(b));
    }
    struct T {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn strong(v: usize, adj: &[Vec<usize>], t: &mut T) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in &adj[v] {
            match t.index[w] {
                None => {
                    strong(w, adj, t);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        index: vec![None; nodes.len()],
        low: vec![0; nodes.len()],
        on: vec![false; nodes.len()],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..nodes.len() {
        if t.index[v].is_none() {
            strong(v, &adj, &mut t);
        }
    }
    let mut out: Vec<Vec<N>> = t
        .out
        .into_iter()
        .map(|c| {
            let mut c: Vec<N> = c.into_iter().map(|i| nodes[i].clone()).collect();
            c.sort();
            c
        })
        .collect();
    out.sort();
    out
}
