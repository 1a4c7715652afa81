// BullMQ's side of bench/durable.cpp: `node bench.mjs SOCKET JOBS` adds JOBS jobs with addBulk (256
// at a time) and runs them with one Worker at concurrency 50, removing each on completion (as
// jobq deletes acknowledged entries). Prints "<elapsed seconds> <node CPU seconds>".
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

const socket = process.argv[2];
const count = Number(process.argv[3]);
// BullMQ 6 takes ready-made ioredis clients in an ES module: one for the queue, one for the worker.
const client = () => new IORedis({ path: socket, maxRetriesPerRequest: null });
const payload = { order: 12345, sku: 'A-100', quantity: 2 };

const queue = new Queue('orders', { connection: client() });
let done = 0;
let finish;
const finished = new Promise((resolve) => { finish = resolve; });
const worker = new Worker('orders', async () => {}, { connection: client(), concurrency: 50 });
worker.on('completed', () => { if (++done === count) finish(); });
await worker.waitUntilReady();

const start = process.hrtime.bigint();
const cpuStart = process.cpuUsage();
for (let sent = 0; sent < count; sent += 256) {
  const n = Math.min(256, count - sent);
  await queue.addBulk(Array.from({ length: n }, () => ({ name: 'orders:ship', data: payload,
    opts: { removeOnComplete: true } })));
}
await finished;
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
const cpu = process.cpuUsage(cpuStart);
console.log(`${elapsed.toFixed(4)} ${((cpu.user + cpu.system) / 1e6).toFixed(4)}`);
await worker.close();
await queue.close();
process.exit(0);
