; PAE paging: 3-level translation with 64-bit entries, 2 MiB pages, the
; execute-disable bit with EFER.NXE, reserved-bit faults (SDM vol. 3 §4.4,
; §4.6, §4.7). Needs a P6.
%include "harness.inc"

PDPT  equ 0x22000
PD    equ 0x23000
PT    equ 0x24000
P     equ 1
RW    equ 2
PS    equ 0x80
NX_HI equ 0x80000000            ; bit 63, in the high dword

test_main:
    mov esi, s_hello
    call print

    ; Zero the tables.
    mov edi, PDPT
    mov ecx, 0x3000 / 4
    xor eax, eax
    rep stosd
    ; 0-2 MiB through a page table, 4 KiB pages, identity.
    mov edi, PT
    mov eax, P | RW
    mov ecx, 512
.fill:
    mov [edi], eax
    mov dword [edi + 4], 0
    add eax, 0x1000
    add edi, 8
    loop .fill
    mov dword [PT + 0x60 * 8 + 4], NX_HI               ; 0x60000 execute-disable
    mov dword [PD + 0], PT | P | RW
    mov dword [PD + 8], 0x800000 | PS | P | RW          ; 2-4 MiB -> 8 MiB
    mov dword [PD + 16], 0x800000 | PS | P | RW         ; 4-6 MiB -> 8 MiB
    mov dword [PDPT], PD | P
    mov byte [0x60000], 0xC3                            ; RET

    ; EFER.NXE, CR4.PAE, CR3, CR0.PG.
    mov ecx, 0xC0000080
    rdmsr
    or eax, 1 << 11
    wrmsr
    mov eax, cr4
    or eax, 1 << 5
    mov cr4, eax
    mov eax, PDPT
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax

    BEGIN_EXPECT
    mov dword [0x50000], 0x5A5A5A5A
    mov eax, [0x50000]
    END_EXPECT NO_FAULT, NO_FAULT, "PAE on: identity-mapped access"

    mov dword [0x200040], 0x600DF00D
    mov eax, [0x400040]
    cmp eax, 0x600DF00D
    CHECK "two 2 MiB pages map the same frame"

    BEGIN_EXPECT
    mov eax, [0x60000]
    END_EXPECT NO_FAULT, NO_FAULT, "reading an execute-disabled page"

    BEGIN_EXPECT
    call 0x60000
    END_EXPECT 14, 0x11, "fetch from an execute-disabled page: #PF(P|I/D)"
    mov eax, cr2
    cmp eax, 0x60000
    CHECK "CR2 for the fetch"

    ; Without NXE, bit 63 is reserved.
    mov ecx, 0xC0000080
    rdmsr
    and eax, ~(1 << 11)
    wrmsr
    invlpg [0x60000]
    BEGIN_EXPECT
    mov eax, [0x60000]
    END_EXPECT 14, 0x09, "bit 63 set without EFER.NXE: #PF(P|RSVD)"

    BEGIN_EXPECT
    mov eax, [0x700000]
    END_EXPECT 14, 0, "a not-present directory entry: #PF(0)"

    mov eax, cr0
    and eax, ~(1 << 31)
    mov cr0, eax
    jmp finish

s_hello: db "pm_pae: protected mode entered", 10, 0

%include "rom_end.inc"
