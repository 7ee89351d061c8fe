import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A private CA and a server certificate for `localhost` and 127.0.0.1, made fresh at run time.
public struct TestCertificates: Sendable {
    /// The CA certificate, PEM: give it to a client as its trust root.
    public let caPEM: String
    /// The server's certificate chain and key, PEM.
    public let serverCertificatePEM: String
    public let serverKeyPEM: String

    public init(commonName: String = "localhost") throws {
        let caKey = P256.Signing.PrivateKey()
        let serverKey = P256.Signing.PrivateKey()
        let now = Date()
        let caName = try DistinguishedName { CommonName("Herald Test CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let serverName = try DistinguishedName { CommonName(commonName) }
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400),
            issuer: caName, subject: serverName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName(commonName), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(caKey))
        caPEM = try ca.serializeAsPEM().pemString
        serverCertificatePEM = try server.serializeAsPEM().pemString
        serverKeyPEM = serverKey.pemRepresentation
    }

    /// A NIOSSL server configuration presenting the server certificate.
    public func serverTLSConfiguration() throws -> TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(serverCertificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serverKeyPEM.utf8), format: .pem)))
    }

    /// Writes the CA, certificate and key to `directory` (for peers such as aiosmtpd).
    public func write(to directory: URL) throws {
        try Data(caPEM.utf8).write(to: directory.appendingPathComponent("ca.pem"))
        try Data(serverCertificatePEM.utf8).write(to: directory.appendingPathComponent("server.pem"))
        try Data(serverKeyPEM.utf8).write(to: directory.appendingPathComponent("server.key"))
    }
}
