/// A fixture package for the proxy's tests.
public struct LinkedList<Element> {
    public private(set) var elements: [Element] = []
    public init() {}
    public mutating func append(_ element: Element) { elements.append(element) }
}
