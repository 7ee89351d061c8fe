import NIOCore
import PostgresNIO

/// An `SQLArray` in PostgreSQL's binary array format. postgres-nio encodes arrays of values but
/// not arrays with NULL elements, which a batch's optional columns need.
struct PostgresArrayParameter: PostgresDynamicTypeEncodable {
    let array: SQLArray

    var psqlType: PostgresDataType {
        switch array {
        case .integers: .int8Array
        case .texts: .textArray
        case .blobs: .byteaArray
        }
    }

    var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        switch array {
        case .integers(let values):
            Self.write(values, element: .int8, into: &buffer) { value, buffer in
                buffer.writeInteger(Int32(8))
                buffer.writeInteger(value)
            }
        case .texts(let values):
            Self.write(values, element: .text, into: &buffer) { value, buffer in
                buffer.writeInteger(Int32(value.utf8.count))
                buffer.writeString(value)
            }
        case .blobs(let values):
            Self.write(values, element: .bytea, into: &buffer) { value, buffer in
                buffer.writeInteger(Int32(value.count))
                buffer.writeBytes(value)
            }
        }
    }

    /// The header (dimensions, whether any element is NULL, element type, length and lower
    /// bound), then each element as its length and bytes, or length -1 for NULL.
    private static func write<Element>(
        _ values: [Element?], element: PostgresDataType, into buffer: inout ByteBuffer,
        _ writeElement: (Element, inout ByteBuffer) -> Void
    ) {
        buffer.writeInteger(Int32(values.isEmpty ? 0 : 1))
        buffer.writeInteger(Int32(values.contains { $0 == nil } ? 1 : 0))
        buffer.writeInteger(element.rawValue)
        guard !values.isEmpty else { return }
        buffer.writeInteger(Int32(values.count))
        buffer.writeInteger(Int32(1))
        for value in values {
            if let value { writeElement(value, &buffer) } else { buffer.writeInteger(Int32(-1)) }
        }
    }
}
