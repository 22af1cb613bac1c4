use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rust_decimal_macros::dec;
use switchyard_cost::{price, CacheMultipliers, Pricing, TierBasis, TierSpec, Usage};

fn bench(c: &mut Criterion) {
    let pricing = Pricing::resolve(&[
        TierSpec {
            input: Some(dec!(0.000003)),
            output: Some(dec!(0.000015)),
            cache: Some(CacheMultipliers {
                read: Some(dec!(0.1)),
                write_5m: Some(dec!(1.25)),
                write_1h: Some(dec!(2)),
            }),
            ..Default::default()
        },
        TierSpec {
            threshold: 200_000,
            input: Some(dec!(0.000006)),
            output: Some(dec!(0.0000225)),
            ..Default::default()
        },
    ])
    .unwrap();
    let usage = Usage {
        input: Some(1500),
        output: Some(1000),
        cache_read: Some(500),
        cache_write_5m: Some(100),
        ..Default::default()
    };
    c.bench_function("price claude-sonnet-4 with cache", |b| {
        b.iter(|| price(black_box(&pricing), TierBasis::Prompt, black_box(&usage)).total_nanos())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
