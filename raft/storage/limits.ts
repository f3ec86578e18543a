// Named maxima of the LevelDB log writers (see STYLE.md §8).

/** A batch that has gathered this many bytes of keys and values takes no more saves; the
 * next save opens the batch after it. Bounds the memory a burst can pin while an fsync
 * runs and the size of one LevelDB write (it goes into the memtable and the log at once). */
export const logBatchBytesMax = 16 * 1024 * 1024;
