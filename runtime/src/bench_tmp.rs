extern crate std;
use crate::decision::rails;
use crate::interp::*;
use crate::testutil::*;
use std::hint::black_box;
use std::time::Instant;

#[inline(never)]
fn hand(r: &[u64], missing: u64, out: &mut [u8; 5]) {
    let f = f64::from_bits;
    let on_mcu = r[0] == 0 || r[0] == 1;
    out[0] = (f(r[2]) < 0.30 && r[3] == 0) as u8;
    out[1] = (r[7] == 2) as u8;
    out[2] = (on_mcu && (r[4] as i64) < 40) as u8;
    let rssi = if missing >> 5 & 1 == 0 { r[5] as i64 } else { -127 };
    out[3] = (on_mcu && rssi < -80) as u8;
    let h = r[14] as i64;
    out[4] = (r[0] == 2 && !(1 <= h && h <= 4)) as u8;
}

#[test]
fn bench_tmp() {
    let p = sample_policy();
    let f = p.function(crate::artifact::FunctionKind::Rails).unwrap();
    let n = 4096;
    let mut recs = std::vec::Vec::new();
    let mut x: u64 = 12345;
    let mut rnd = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
    for _ in 0..n {
        let mut r = sample_record();
        r[0] = rnd() % 3;
        r[2] = ((rnd() % 100) as f64 / 100.0).to_bits();
        r[3] = rnd() % 2;
        r[4] = rnd() % 200;
        r[5] = (-((rnd() % 100) as i64)) as u64;
        r[7] = rnd() % 3;
        r[14] = rnd() % 24;
        let m = if rnd() % 4 == 0 { 1u64 << 5 } else { 0 };
        recs.push((r, m));
    }
    let mut bits = ClauseBits::for_policy(&p);
    let iters = 200;
    let t = Instant::now();
    let mut acc = 0u64;
    for _ in 0..iters {
        for (r, m) in &recs {
            run(&p, f, &Record { slots: r, missing: std::slice::from_ref(m) }, &mut bits).unwrap();
            acc += match rails(&p, &bits).verdict { crate::decision::RailVerdict::Allow => 0, crate::decision::RailVerdict::Deny => 1, _ => 2 };
        }
    }
    let ti = t.elapsed().as_nanos() as f64 / (iters * n) as f64;
    let t = Instant::now();
    let mut out = [0u8; 5];
    for _ in 0..iters {
        for (r, m) in &recs {
            hand(black_box(r), *m, &mut out);
            acc += (out[0] | out[2]) as u64 * 1 + (out[1] | out[3] | out[4]) as u64 ;
        }
    }
    let th = t.elapsed().as_nanos() as f64 / (iters * n) as f64;
    let t = Instant::now();
    for _ in 0..iters {
        for (r, m) in &recs {
            run(&p, f, &Record { slots: r, missing: std::slice::from_ref(m) }, &mut bits).unwrap();
            acc += bits.is_true(ClauseId(0)) as u64;
        }
    }
    let tr = t.elapsed().as_nanos() as f64 / (iters * n) as f64;
    std::println!("interp+decide {ti:.1} ns, interp only {tr:.1} ns, hand {th:.1} ns, ratio {:.2} {acc}", ti / th);
}
