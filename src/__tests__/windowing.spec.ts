import { computeWindow, pagesFor, rowAt, rowTop } from '../windowing';

describe('computeWindow', () => {
  it('renders the rows in view and a few around them, not the whole list', () => {
    const window = computeWindow({
      count: 10_000,
      rowHeight: 49,
      scrollTop: 245_000,
      viewportHeight: 554,
      overscan: 5
    });
    // Row 5000 is at the top; 12 rows fill 554 px.
    expect(window.start).toBe(4995);
    expect(window.end).toBe(5017);
    expect(window.before).toBe(4995 * 49);
    expect(window.after).toBe((10_000 - 5017) * 49);
    expect(window.total).toBe(490_000);
    expect(
      window.before + (window.end - window.start) * 49 + window.after
    ).toBe(window.total);
  });

  it('clamps at both ends of the list', () => {
    expect(
      computeWindow({
        count: 3,
        rowHeight: 29,
        scrollTop: -50,
        viewportHeight: 800
      })
    ).toEqual({ start: 0, end: 3, before: 0, after: 0, total: 87 });
    const end = computeWindow({
      count: 100,
      rowHeight: 10,
      scrollTop: 99_999,
      viewportHeight: 50,
      overscan: 0
    });
    expect(end.end).toBe(100);
    expect(end.after).toBe(0);
  });

  it('renders a first screen while the viewport has no height yet', () => {
    const window = computeWindow({
      count: 10_000,
      rowHeight: 49,
      scrollTop: 0,
      viewportHeight: 0,
      overscan: 0,
      fallbackRows: 50
    });
    expect([window.start, window.end]).toEqual([0, 50]);
  });

  it('places rows below open details lower by their height', () => {
    const extras = new Map([
      [2, 300],
      [10, 100]
    ]);
    expect(rowTop(2, 20, extras)).toBe(40);
    expect(rowTop(3, 20, extras)).toBe(360);
    expect(rowTop(11, 20, extras)).toBe(620);
    // Inside the details of row 2 is still row 2.
    expect(rowAt(100, 50, 20, extras)).toBe(2);
    expect(rowAt(360, 50, 20, extras)).toBe(3);
    expect(rowAt(619, 50, 20, extras)).toBe(10);
    const window = computeWindow({
      count: 50,
      rowHeight: 20,
      scrollTop: 360,
      viewportHeight: 100,
      overscan: 0,
      extras
    });
    expect(window.start).toBe(3);
    expect(window.before).toBe(360);
    expect(window.total).toBe(50 * 20 + 400);
  });

  it('has nothing to render for an empty list', () => {
    expect(
      computeWindow({
        count: 0,
        rowHeight: 49,
        scrollTop: 0,
        viewportHeight: 500
      })
    ).toEqual({ start: 0, end: 0, before: 0, after: 0, total: 0 });
  });
});

describe('pagesFor', () => {
  it('names the pages that hold a range of rows', () => {
    expect(pagesFor(0, 20, 50)).toEqual([0]);
    expect(pagesFor(45, 60, 50)).toEqual([0, 1]);
    expect(pagesFor(9_990, 10_000, 50)).toEqual([199]);
    expect(pagesFor(10, 10, 50)).toEqual([]);
  });
});
