//! Buckets in Redis: one `EVALSHA` of `ratelimit.lua` per step (falling back to `EVAL` once
//! after a Redis restart flushed the script cache).

use super::bucket::Mode;
use super::ratelimit::{BucketBackend, BucketOp, StepOutcome};
use super::redis::RedisHandle;

pub const SCRIPT: &str = include_str!("ratelimit.lua");

pub struct RedisBuckets {
    redis: RedisHandle,
    script: redis::Script,
}

impl RedisBuckets {
    pub fn new(redis: RedisHandle) -> RedisBuckets {
        RedisBuckets {
            redis,
            script: redis::Script::new(SCRIPT),
        }
    }
}

impl BucketBackend for RedisBuckets {
    async fn step(&self, ops: &[BucketOp]) -> Option<StepOutcome> {
        let mut inv = self.script.prepare_invoke();
        for op in ops {
            let (mode, amount) = match op.mode {
                Mode::Take(a) => ("t", a),
                Mode::Peek => ("p", 0.0),
                Mode::Deduct(a) => ("d", a),
            };
            // `{}` of an f64 is its shortest exact decimal, which Lua's tonumber reads back
            // to the same double.
            inv.key(&op.key)
                .arg(op.quota.to_string())
                .arg(op.window_secs)
                .arg(mode)
                .arg(amount.to_string());
        }
        let reply: Vec<String> = self
            .redis
            .run("ratelimit", |mut conn| async move {
                inv.invoke_async(&mut conn).await
            })
            .await?;
        parse_reply(&reply, ops.len())
    }
}

fn parse_reply(reply: &[String], n: usize) -> Option<StepOutcome> {
    if reply.len() != 1 + 2 * n {
        tracing::error!(
            len = reply.len(),
            "rate-limit script returned a malformed reply"
        );
        return None;
    }
    let buckets = reply[1..]
        .chunks(2)
        .map(|c| Some((c[0].parse::<f64>().ok()?, c[1] == "1")))
        .collect::<Option<Vec<_>>>()?;
    Some(StepOutcome {
        allowed: reply[0] == "1",
        buckets,
    })
}
