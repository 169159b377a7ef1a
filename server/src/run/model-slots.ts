// Models computed into memory for the built-in evaluator, shared by the evaluations that
// run at once (`--jobs N`). At most `capacity` models are held, in use or kept for the
// next evaluation of the same model (a model's test split follows its validation one):
// before a new model is computed, models nobody uses make room, oldest first, and when
// every slot is in use the new one waits. With one evaluation at a time and capacity 1
// this is "keep the last model", and memory is bounded by N models whatever the sweep.

interface Slot<T> {
  readonly value: Promise<T>;
  users: number;
}

export class ModelSlots<T> {
  readonly #capacity: number;
  /** In insertion order, so the first unused entry is the oldest. */
  readonly #slots = new Map<string, Slot<T>>();
  readonly #waiting: (() => void)[] = [];
  #peak = 0;

  constructor(capacity: number) {
    if (!(Number.isSafeInteger(capacity) && capacity >= 1)) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  /** The most models held at once so far (the bound the tests check). */
  get peak(): number {
    return this.#peak;
  }

  /** Runs `use` with the model under `key`, computing it with `compute` when it is not held. */
  async with<R>(key: string, compute: () => Promise<T>, use: (model: T) => Promise<R>): Promise<R> {
    const slot = await this.#acquire(key, compute);
    try {
      return await use(await slot.value);
    } finally {
      slot.users--;
      this.#wakeOne();
    }
  }

  clear(): void {
    for (const [key, slot] of this.#slots) if (slot.users === 0) this.#slots.delete(key);
  }

  async #acquire(key: string, compute: () => Promise<T>): Promise<Slot<T>> {
    for (;;) {
      const held = this.#slots.get(key);
      if (held) {
        held.users++;
        return held;
      }
      if (this.#makeRoom()) {
        const slot: Slot<T> = { value: compute(), users: 1 };
        // A failed computation is not kept: the next evaluation of that model tries again.
        slot.value.catch(() => {
          if (this.#slots.get(key) === slot) this.#slots.delete(key);
          this.#wakeOne();
        });
        this.#slots.set(key, slot);
        this.#peak = Math.max(this.#peak, this.#slots.size);
        return slot;
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** Drops unused models, oldest first, until one more fits; false when all are in use. */
  #makeRoom(): boolean {
    for (const [key, slot] of this.#slots) {
      if (this.#slots.size < this.#capacity) break;
      if (slot.users === 0) this.#slots.delete(key);
    }
    return this.#slots.size < this.#capacity;
  }

  #wakeOne(): void {
    this.#waiting.shift()?.();
  }
}
