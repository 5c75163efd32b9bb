/** Where the SDK keeps its queue and session: the shape of React Native's AsyncStorage, so it fits as is. */
export interface SdkStorage {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

/** The default: in memory, lost with the process. Apps pass AsyncStorage, a file-backed store, etc. */
export class MemoryStorage implements SdkStorage {
  private readonly items = new Map<string, string>();
  async getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  async setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  async removeItem(key: string) {
    this.items.delete(key);
  }
}
