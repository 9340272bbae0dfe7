"""Malaysian parties for Faker, which has no Malaysian locale: Malay, Chinese and Indian names as Malaysians write
them (`bin`/`binti`, `a/l`/`a/p`), firms (`Sdn. Bhd.`, `Enterprise`, `Kedai Runcit`), addresses with a five-digit
postcode and the state, and +60 phone numbers."""

from faker.providers import BaseProvider

MALAY = (("Ahmad", "Muhammad", "Mohd Faizal", "Hafiz", "Azlan", "Syafiq", "Amirul", "Zulkifli"),
         ("Nurul Aina", "Siti Aishah", "Farah", "Nur Izzati", "Aminah", "Nabila", "Zainab", "Haslinda"))  # fmt: skip
FATHERS = ("Abdullah", "Ismail", "Hassan", "Ibrahim", "Yusof", "Osman", "Abdul Rahman", "Razak")
CHINESE_SURNAMES = ("Tan", "Lim", "Lee", "Wong", "Ng", "Chong", "Ong", "Teh", "Goh", "Chan")
CHINESE_GIVEN = ("Wei Ming", "Mei Ling", "Kah Wai", "Siew Lan", "Boon Hock", "Li Ying", "Chee Keong", "Hui Min")
INDIAN = (("Suresh", "Ramesh", "Ganesh", "Kumar", "Rajendran"), ("Kavitha", "Priya", "Devi", "Malar", "Shanti"))
INDIAN_FATHERS = ("Ramasamy", "Muniandy", "Subramaniam", "Krishnan", "Arumugam")
TRADE_NAMES = ("Maju Jaya", "Sinar Harapan", "Cahaya Baru", "Seri Murni", "Bintang Timur", "Perdana", "Wong Kee",
               "Lim Brothers", "Tan & Sons", "Kampung Baru", "Mega Jaya", "Sri Ganesh")  # fmt: skip
FIRMS = ("{} Trading Sdn. Bhd.", "{} Enterprise", "Syarikat {} Sdn. Bhd.", "Kedai Runcit {}", "Restoran {}",
         "{} Mart", "Kedai Kopi {}", "{} Holdings Berhad", "{} Services Sdn. Bhd.")  # fmt: skip
STREETS = ("Jalan Ampang", "Jalan Bukit Bintang", "Jalan Tun Razak", "Jalan Sultan Ismail", "Jalan Masjid India",
           "Jalan Pudu", "Jalan SS 2/24", "Jalan Gasing", "Jalan Raja Laut", "Jalan Dato Onn", "Lorong Meru 3")  # fmt: skip
TAMANS = ("Taman Melawati", "Taman Tun Dr Ismail", "Taman Sri Muda", "Taman Desa", "Taman Connaught", "Taman Pelangi")
TOWNS = (  # town, postcode prefix, state
    ("Kuala Lumpur", "5", "Wilayah Persekutuan"),
    ("Petaling Jaya", "46", "Selangor"),
    ("Shah Alam", "40", "Selangor"),
    ("Johor Bahru", "80", "Johor"),
    ("George Town", "10", "Pulau Pinang"),
    ("Ipoh", "30", "Perak"),
    ("Kota Kinabalu", "88", "Sabah"),
    ("Kuching", "93", "Sarawak"),
    ("Melaka", "75", "Melaka"),
    ("Seremban", "70", "Negeri Sembilan"),
)


class MalaysiaProvider(BaseProvider):
    def name(self) -> str:
        kind, female = self.random_int(0, 2), self.random_int(0, 1)
        if kind == 0:
            return f"{self.random_element(MALAY[female])} {'binti' if female else 'bin'} {self.random_element(FATHERS)}"
        if kind == 1:
            return f"{self.random_element(CHINESE_SURNAMES)} {self.random_element(CHINESE_GIVEN)}"
        link = "a/p" if female else "a/l"
        return f"{self.random_element(INDIAN[female])} {link} {self.random_element(INDIAN_FATHERS)}"

    def company(self) -> str:
        return self.random_element(FIRMS).format(self.random_element(TRADE_NAMES))

    def city(self) -> str:
        return self.random_element(TOWNS)[0]

    def address(self) -> str:
        town, prefix, state = self.random_element(TOWNS)
        street = f"No. {self.random_int(1, 250)}, {self.random_element(STREETS)}"
        lines = [street, self.random_element(TAMANS)] if self.random_int(0, 1) else [street]
        postcode = prefix + self.numerify("#" * (5 - len(prefix)))
        return "\n".join([*lines, f"{postcode} {town}, {state}"])

    def phone_number(self) -> str:
        if self.random_int(0, 1):
            return self.numerify("+60 3-#### ####")
        return self.numerify(f"01{self.random_element('2345679')}-### ####")

    def company_email(self) -> str:
        firm = "".join(c for c in self.random_element(TRADE_NAMES).lower() if c.isalnum())
        return f"{self.random_element(('info', 'sales', 'akaun', 'admin'))}@{firm}.com.my"
